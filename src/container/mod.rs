//! A container's lifecycle and state, the layer that composes the pieces
//! (process, mounts, cgroups, seccomp, hooks), which know nothing of one
//! another: `create` (parent side in create.rs, the forked process in
//! init.rs), `start`, `kill`, `delete` (lifecycle.rs), `exec`, the
//! resources (resources.rs), and the state every later berth process reads
//! back from --root/ID. The operations share shared.rs and never borrow
//! from one another (tests/flow.rs).

mod check;
mod checkpoint;
mod child;
mod create;
mod dir;
mod exec;
mod failure;
mod features;
mod images;
mod init;
mod lifecycle;
mod migration;
mod netdev;
mod patience;
mod plan;
mod program;
mod resctrl;
mod resources;
mod restore;
mod rootless;
mod shared;
mod state;
mod sync;
mod teardown;

pub use check::{CheckOpts, check, check_untrusted};
pub use checkpoint::{CheckpointOpts, checkpoint};
pub use create::{CreateOpts, create, wait_started};
pub use exec::{ExecOpts, exec};
pub use failure::{Failure, Stage};
pub use features::features;
pub use images::CriuFlags;
pub use lifecycle::{delete, kill, list, parse_signal, start, state};
pub use resources::{events, oom_report, pause, pids, update};
pub use restore::{RestoreOpts, Restored, restore};
pub use rootless::{SYSTEM_ROOT, default_root, prepare_xdg_root, rootless};
pub use shared::Mode;
pub use state::Status;

/// For `--version`: the libseccomp that compiles the containers' filters.
pub use crate::seccomp::library_version as seccomp_library_version;

/// `run` and `exec` in the foreground: blocks the signals berth forwards to
/// the container's process, before the clone so that none is lost; they
/// are read from the returned signalfd by `wait_foreground`.
pub fn block_forwarded_signals() -> Result<std::os::fd::OwnedFd, SysError> {
    crate::process::foreground::block_forwarded()
}

/// Forwards signals (and relays the terminal's `master`, if any) until the
/// process `pid` exits; returns its exit status, or 128+N for signal N.
pub fn wait_foreground(
    sigfd: &std::os::fd::OwnedFd,
    pidfd: &std::os::fd::OwnedFd,
    pid: i32,
    master: Option<std::os::fd::OwnedFd>,
) -> Result<i32, SysError> {
    crate::process::foreground::wait(sigfd, pidfd, pid, master)
}

/// The config.json `spec` writes for this host and caller: runc's, with a
/// cgroup namespace where cgroup v2 is the only hierarchy, and for
/// `rootless` the caller's effective ids mapped to root, as runc maps them.
pub fn default_spec(rootless: bool) -> Result<serde_json::Value, ContainerError> {
    let cgroupns = crate::cgroups::unified()?;
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    Ok(crate::config::default_spec(rootless, uid, gid, cgroupns))
}

/// The container's process as config.json gave it, the base of `exec`.
pub fn process(
    root: &std::path::Path,
    id: &str,
) -> Result<Option<oci_spec::runtime::Process>, ContainerError> {
    dir::validate_id(id)?;
    Ok(dir::load(&root.join(id))?.process)
}

use crate::cgroups::CgroupError;
use crate::config::ConfigError;
use crate::error::SysError;
use crate::hooks::HookError;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// runc's phrase first: containerd and podman match "does not exist".
    #[error("container does not exist: \"{0}\"")]
    NotFound(String),
    /// runc's phrase: containerd's shim takes "container not running" as
    /// "the process has already finished" (a StopContainer racing its exit).
    #[error("container not running: \"{id}\" is {status}")]
    NotRunning { id: String, status: Status },
    /// runc's phrase for a resume of a container that is not paused.
    #[error("container not paused: \"{id}\" is {status}")]
    NotPaused { id: String, status: Status },
    #[error("container \"{0}\" already exists")]
    Exists(String),
    #[error("invalid container id \"{0}\": use letters, digits, '_', '-', '.', '+', and no path")]
    InvalidId(String),
    #[error("container \"{id}\": cannot {op} a container that is {status}")]
    WrongStatus {
        id: String,
        op: &'static str,
        status: Status,
    },
    #[error(
        "container \"{0}\" has no state: its create was interrupted; delete --force removes it"
    )]
    NoState(String),
    /// A state file that does not parse (a torn write, a full disk).
    #[error(
        "container \"{id}\": its state file {file} is damaged ({why}); delete --force removes the container, its processes and its cgroup"
    )]
    Damaged {
        id: String,
        file: String,
        why: String,
    },
    /// delete --force of a container whose state.json and cleanup.json are
    /// both unusable: its directory is gone, what it made may not be.
    #[error(
        "container \"{id}\": its state directory is removed, but its processes and cgroup could not be found and may be left on the host: {why}"
    )]
    Lost { id: String, why: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error(transparent)]
    Rootfs(#[from] crate::mounts::RootfsError),
    /// What the container process reported before it could exec.
    #[error("container \"{id}\": {failure}")]
    Process { id: String, failure: Failure },
    /// The container process ended without a word: killed, or exited.
    #[error("container \"{id}\": {how}")]
    ProcessEnded { id: String, how: String },
    /// The container process said something out of turn.
    #[error("container \"{id}\": unexpected message {got}")]
    Protocol { id: String, got: String },
    /// The container process did not take its next step of setup within
    /// BERTH_SETUP_TIMEOUT (patience.rs).
    #[error(
        "container \"{id}\": {what} did not come within {bound:.1?} (BERTH_SETUP_TIMEOUT): {process}"
    )]
    Stalled {
        id: String,
        what: &'static str,
        bound: std::time::Duration,
        process: String,
    },
    #[error("container \"{0}\": the container process exited before it was started")]
    ExitedBeforeStart(String),
    /// Another command held the container's lock past the bound.
    #[error(
        "container \"{id}\" is locked by {holder}, still after {waited:.1?} (BERTH_LOCK_TIMEOUT): end that command, or wait for it"
    )]
    Locked {
        id: String,
        waited: std::time::Duration,
        holder: String,
    },
    /// delete could not clean everything by its bounds: what is left. The
    /// state stays, so that a second delete --force finishes the job.
    #[error(
        "container \"{id}\": delete could not finish, and keeps the container's state so that delete --force can be run again: {left}"
    )]
    Unfinished { id: String, left: String },
    #[error("{0}")]
    Usage(String),
    /// CRIU could not checkpoint or restore (its message, and its log).
    #[error("{0}")]
    Criu(String),
    /// runc's phrase, and why: a rootless container has no cgroup.
    #[error(
        "cannot set {0} limit: container could not join or create cgroup (rootless: berth may not create cgroups on this host, so a rootless container has none; remove the limit from linux.resources)"
    )]
    NoCgroupLimit(String),
    #[error(
        "container \"{id}\": cannot {op} it: it has no cgroup (rootless: berth may not create cgroups on this host)"
    )]
    NoCgroup { id: String, op: &'static str },
}
