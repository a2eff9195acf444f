//! A failure of the container process (the container's init or an exec'd
//! process) as data: the stage it was in, the system call or step that
//! failed, what that was about (a path, a field, a namespace), the errno,
//! and the sentence the user reads. It crosses the sync channel, and
//! exec.fifo after `start`, as JSON; the parent rebuilds it and decides on
//! its stage and errno, never on its text.

use crate::error::SysError;
use crate::hooks::HookError;
use crate::process::ProcessError;
use crate::process::exec::ExecError;
use serde::{Deserialize, Serialize};
use std::error::Error;

/// Where in the container process's setup a failure happened, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// The conversation with berth itself: a lost or unexpected message.
    Sync,
    /// CPU affinity before anything else runs.
    Affinity,
    /// Joining and creating namespaces, the user namespace's maps, time
    /// offsets, the second fork into a new pid or time namespace.
    Namespaces,
    /// Hostname, domainname, the session keyring, the bundle as cwd.
    Identity,
    /// The root filesystem: proc, the mounts, pivot_root, read-only root.
    Mounts,
    CreateContainerHook,
    Terminal,
    Cwd,
    /// The process's own settings: limits, scheduling, LSM labels, the
    /// program found and checked, fds, user, capabilities, seccomp.
    Process,
    /// Waiting for `start` (exec.fifo, or run's go-ahead).
    WaitForStart,
    StartContainerHook,
    Exec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub stage: Stage,
    /// The system call or step ("mount", "setns", "exec", "createContainer hook").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// What it was about: a path, a config field, a namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
    /// The whole sentence, as the user sees it.
    pub message: String,
}

/// Longest message kept: the whole failure must fit in one packet.
const MAX_MESSAGE: usize = 8192;

impl Failure {
    /// From any error of the pieces: op, what and errno come from the
    /// system call error in its chain, or from the piece's own error type.
    pub fn new(stage: Stage, e: &(dyn Error + 'static)) -> Failure {
        let mut f = Failure::plain(stage, e.to_string());
        let mut cur = Some(e);
        while let Some(err) = cur {
            if let Some(p) = err.downcast_ref::<ProcessError>() {
                match p {
                    ProcessError::Sys(s) => f.set_sys(s),
                    ProcessError::Exec(x) => f.set_exec(x),
                }
                break;
            }
            if let Some(x) = err.downcast_ref::<ExecError>() {
                f.set_exec(x);
                break;
            }
            if let Some(s) = err.downcast_ref::<SysError>() {
                f.set_sys(s);
                break;
            }
            if let Some(h) = err.downcast_ref::<HookError>() {
                f.op = Some(format!("{} hook", h.kind));
                f.what = Some(h.path.clone());
                break;
            }
            cur = err.source();
        }
        f
    }

    /// A failure of berth's own making, with no system call behind it.
    pub fn plain(stage: Stage, message: impl Into<String>) -> Failure {
        let mut message = message.into();
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        Failure {
            stage,
            op: None,
            what: None,
            errno: None,
            message,
        }
    }

    /// A message berth did not expect at this point of the conversation.
    pub fn unexpected(want: &str, got: impl std::fmt::Debug) -> Failure {
        Failure::plain(Stage::Sync, format!("expected {want}, got {got:?}"))
    }

    fn set_sys(&mut self, s: &SysError) {
        self.op = Some(s.op.to_string());
        self.what = Some(s.what.clone()).filter(|w| !w.is_empty());
        self.errno = s.errno();
    }

    fn set_exec(&mut self, x: &ExecError) {
        self.op = Some("exec".into());
        self.errno = x.errno();
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a failure always serializes")
    }

    pub fn from_json(b: &[u8]) -> Option<Failure> {
        serde_json::from_slice(b).ok()
    }
}

/// `.at(Stage::Mounts)?` on any result inside the container process.
pub trait At<T> {
    fn at(self, stage: Stage) -> Result<T, Failure>;
}

impl<T, E: Error + 'static> At<T> for Result<T, E> {
    fn at(self, stage: Stage) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(stage, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SysContext;

    #[test]
    fn a_system_call_error_keeps_its_parts() {
        let e: Result<(), _> =
            Err(std::io::Error::from_raw_os_error(libc::EPERM)).sys("mount", "/proc");
        let f = e.at(Stage::Mounts).unwrap_err();
        assert_eq!(f.stage, Stage::Mounts);
        assert_eq!(f.op.as_deref(), Some("mount"));
        assert_eq!(f.what.as_deref(), Some("/proc"));
        assert_eq!(f.errno, Some(libc::EPERM));
        assert_eq!(f.to_string(), "mount /proc: operation not permitted");
    }

    #[test]
    fn wrapped_errors_are_searched_for_their_system_call() {
        let sys = SysError::new(
            "mount",
            "/x",
            std::io::Error::from_raw_os_error(libc::ENOENT),
        );
        let e = crate::mounts::RootfsError::Mount {
            index: 3,
            dest: "/x".into(),
            source: sys,
        };
        let f = Failure::new(Stage::Mounts, &e);
        assert_eq!(f.errno, Some(libc::ENOENT));
        assert_eq!(f.op.as_deref(), Some("mount"));
        assert!(f.message.starts_with("mounts[3] (/x): "), "{}", f.message);
        let x = ProcessError::Exec(ExecError::NotFound("nope".into()));
        let f = Failure::new(Stage::Process, &x);
        assert_eq!(
            (f.op.as_deref(), f.errno),
            (Some("exec"), Some(libc::ENOENT))
        );
    }

    #[test]
    fn json_round_trip_and_a_long_message_is_cut() {
        let f = Failure::plain(Stage::Cwd, "é".repeat(MAX_MESSAGE));
        assert!(f.message.len() <= MAX_MESSAGE);
        assert_eq!(Failure::from_json(&f.to_json()), Some(f));
        assert_eq!(Failure::from_json(b"not json"), None);
    }
}
