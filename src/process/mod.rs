//! The container's process: namespaces it is created in, the user and
//! capabilities it runs with, its limits, terminal and file descriptors,
//! and the final exec.

pub mod capabilities;
pub mod elf;
pub mod exec;
pub mod fds;
pub mod foreground;
mod identity;
pub mod keyring;
pub mod lsm;
pub mod mempolicy;
pub mod namespaces;
pub mod rlimits;
pub mod sched;
pub mod terminal;
pub mod user;

use crate::config::ConfigError;
use crate::error::SysError;
use crate::syscall;
use capabilities::CapSets;
use oci_spec::runtime::{Process, Spec};
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
    pub affinity_initial: Option<Vec<usize>>,
    pub affinity_final: Option<Vec<usize>>,
    pub ioprio: Option<u32>,
    pub scheduler: Option<sched::SchedAttr>,
    /// linux.personality (set by the container's plan; exec has none).
    pub personality: Option<u64>,
    /// linux.memoryPolicy, for the container's process and exec's alike.
    pub mempolicy: Option<mempolicy::MemPolicy>,
    pub apparmor: Option<String>,
    pub selinux_label: Option<String>,
    /// berth's own binary (device, inode), which the program may never be.
    pub berth_binary: Option<(u64, u64)>,
}

impl ProcessPlan {
    pub fn from_spec(spec: &Spec, preserve_fds: u32) -> Result<ProcessPlan, ConfigError> {
        Self::from_process(spec.process().as_ref().expect("validated"), preserve_fds)
    }

    pub fn from_process(p: &Process, preserve_fds: u32) -> Result<ProcessPlan, ConfigError> {
        if p.args()
            .as_ref()
            .is_none_or(|a| a.is_empty() || a[0].is_empty())
        {
            return Err(ConfigError::invalid(
                "process.args",
                "must name the program to run",
            ));
        }
        let caps = p
            .capabilities()
            .as_ref()
            .map(CapSets::from_spec)
            .transpose()?;
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
            rlimits: p
                .rlimits()
                .iter()
                .flatten()
                .map(|r| rlimits::from_spec(r.typ(), r.soft(), r.hard()))
                .collect(),
            no_new_privileges: p.no_new_privileges().unwrap_or(false),
            oom_score_adj: p.oom_score_adj(),
            terminal: p.terminal().unwrap_or(false),
            console_size: p
                .console_size()
                .map(|b| (b.height() as u16, b.width() as u16)),
            passed_fds,
            affinity_initial: p
                .exec_cpu_affinity()
                .as_ref()
                .and_then(|a| a.initial().as_deref())
                .map(|s| sched::parse_cpus(s, "process.execCPUAffinity.initial"))
                .transpose()?,
            affinity_final: p
                .exec_cpu_affinity()
                .as_ref()
                .and_then(|a| a.cpu_affinity_final().as_deref())
                .map(|s| sched::parse_cpus(s, "process.execCPUAffinity.final"))
                .transpose()?,
            ioprio: p.io_priority().as_ref().map(sched::ioprio).transpose()?,
            scheduler: p.scheduler().as_ref().map(sched::sched_attr),
            personality: None,
            mempolicy: None,
            apparmor: lsm::apparmor(p.apparmor_profile().as_deref())?,
            selinux_label: lsm::selinux(p.selinux_label().as_deref())?,
            berth_binary: exec::own_binary(),
        })
    }

    /// Socket activation: LISTEN_PID must be the pid the program sees.
    pub fn with_listen_pid(env: &[String], pid: i32) -> Vec<String> {
        let mut env = env.to_vec();
        if env.iter().any(|e| e.starts_with("LISTEN_FDS=")) {
            env.push(format!("LISTEN_PID={pid}"));
        }
        env
    }
}

/// Why the process's own settings or its exec failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error(transparent)]
    Exec(#[from] exec::ExecError),
}

impl ProcessError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            ProcessError::Sys(e) => e.errno(),
            ProcessError::Exec(e) => e.errno(),
        }
    }
}

impl ProcessPlan {
    /// Installing a seccomp filter needs no_new_privs or CAP_SYS_ADMIN: if
    /// the process will end up with neither, the filter must go in before
    /// the user and capabilities change (and then allow what follows).
    pub fn seccomp_before_identity(&self) -> bool {
        const CAP_SYS_ADMIN: u64 = 1 << 21;
        let admin = match &self.caps {
            Some(c) => c.effective & CAP_SYS_ADMIN != 0,
            None => self.user.uid == 0,
        };
        !self.no_new_privileges && !admin
    }

    /// The process's own settings, from inside the container, last thing
    /// before it waits to exec: rlimits, the program found on its PATH,
    /// signals and fds as a fresh exec wants them, then (with the filter
    /// first if it must be) user, groups and capabilities, no_new_privs
    /// and the umask. Returns the program to exec. A notify filter's
    /// listener goes to `hand_over` the moment the filter is in.
    pub fn apply(
        &self,
        seccomp: Option<&syscall::SeccompFilter>,
        proc: Option<std::os::fd::BorrowedFd>,
        hand_over: impl FnOnce(std::os::fd::OwnedFd) -> Result<(), SysError>,
    ) -> Result<exec::Executable, ProcessError> {
        rlimits::apply(&self.rlimits)?;
        if let Some(cpus) = &self.affinity_final {
            sched::set_affinity(cpus)?;
        }
        if let Some(v) = self.ioprio {
            sched::set_ioprio(v)?;
        }
        // While berth still holds CAP_SYS_NICE, for the realtime policies.
        if let Some(a) = &self.scheduler {
            sched::set_scheduler(a)?;
        }
        if let Some(p) = self.personality {
            sched::set_personality(p)?;
        }
        if let Some(p) = &self.mempolicy {
            mempolicy::apply(p)?;
        }
        lsm::apply_on_exec(
            self.apparmor.as_deref(),
            self.selinux_label.as_deref(),
            proc,
        )?;
        let program = exec::find(&self.args[0], &self.env)?;
        // From here on nothing may open an fd the program should not get,
        // or rely on a signal disposition berth set.
        syscall::reset_signals();
        fds::close_others(self.passed_fds)?;
        let program = exec::prepare(
            &program,
            &self.args,
            self.env_with_home(),
            self.berth_binary,
        )?;
        // A notify filter goes in now too (identity.rs): its listener fd
        // must reach berth before the process waits for start, and before
        // any other syscall of berth's that the filter may hold for an
        // agent that does not have the listener yet (close, write, ...).
        let as_root = || Ok(fds::chown_stdio(self.user.uid, self.terminal)?);
        self.take_identity(&syscall::Kernel, seccomp, hand_over, as_root)?;
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(
            self.user.umask.unwrap_or(0o022),
        ));
        Ok(program)
    }

    /// process.env with HOME from the container's /etc/passwd when it has
    /// none, as runc gives it (read after pivot_root, before the user
    /// changes).
    fn env_with_home(&self) -> Vec<String> {
        let mut env = self.env.clone();
        if !env
            .iter()
            .any(|e| e.strip_prefix("HOME=").is_some_and(|h| !h.is_empty()))
        {
            env.retain(|e| !e.starts_with("HOME="));
            env.push(format!("HOME={}", user::home(self.user.uid)));
        }
        env
    }

    /// The filter, if it was not installed by `apply`: last, just before
    /// the startContainer hooks and the exec, which both run under it.
    pub fn seccomp_late(&self, seccomp: Option<&syscall::SeccompFilter>) -> Result<(), SysError> {
        self.install_late(&syscall::Kernel, seccomp)
    }

    /// The exec. Returns only the error that kept the program from running.
    pub fn exec(&self, program: &exec::Executable) -> exec::ExecError {
        let env = Self::with_listen_pid(
            program.env(),
            rustix::process::getpid().as_raw_nonzero().get(),
        );
        exec::exec(program, &env)
    }
}
