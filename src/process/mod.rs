//! The container's process: namespaces it is created in, the user and
//! capabilities it runs with, its limits, terminal and file descriptors,
//! and the final exec.

pub mod capabilities;
pub mod exec;
pub mod fds;
pub mod keyring;
pub mod namespaces;
pub mod rlimits;
pub mod signals;
pub mod terminal;
pub mod user;

use crate::config::ConfigError;
use capabilities::CapSets;
use oci_spec::runtime::Spec;
use rlimits::Rlimit;
use std::path::PathBuf;
use user::User;

/// process from config.json, checked and converted before the clone.
#[derive(Debug, Clone, Default)]
pub struct ProcessPlan {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub user: User,
    /// None leaves the capabilities as they are (runc does the same).
    pub caps: Option<CapSets>,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
    /// fds from 3 up that pass to the container.
    pub passed_fds: u32,
}

impl ProcessPlan {
    pub fn from_spec(spec: &Spec, preserve_fds: u32) -> Result<ProcessPlan, ConfigError> {
        let p = spec.process().as_ref().expect("validated");
        let caps = p.capabilities().as_ref().map(CapSets::from_spec).transpose()?;
        let u = p.user();
        let (passed_fds, listen) = fds::passed(preserve_fds);
        let mut env = p.env().clone().unwrap_or_default();
        if let Some(n) = listen {
            env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
            env.push(format!("LISTEN_FDS={n}"));
        }
        Ok(ProcessPlan {
            args: p.args().clone().unwrap_or_default(),
            env,
            cwd: p.cwd().clone(),
            user: User {
                uid: u.uid(),
                gid: u.gid(),
                additional_gids: u.additional_gids().clone().unwrap_or_default(),
                umask: u.umask(),
            },
            caps,
            rlimits: p.rlimits().iter().flatten().map(|r| rlimits::from_spec(r.typ(), r.soft(), r.hard())).collect(),
            no_new_privileges: p.no_new_privileges().unwrap_or(false),
            oom_score_adj: p.oom_score_adj(),
            terminal: p.terminal().unwrap_or(false),
            console_size: p.console_size().map(|b| (b.height() as u16, b.width() as u16)),
            passed_fds,
        })
    }

    /// Socket activation: LISTEN_PID must be the pid the program sees.
    pub fn with_listen_pid(&self, pid: i32) -> Vec<String> {
        let mut env = self.env.clone();
        if env.iter().any(|e| e.starts_with("LISTEN_FDS=")) {
            env.push(format!("LISTEN_PID={pid}"));
        }
        env
    }
}
