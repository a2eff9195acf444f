//! delete's waits, each bounded so that `delete --force` always finishes:
//! it kills, and when a process does not die by the bound (one in
//! uninterruptible sleep keeps its SIGKILL pending; a pid namespace's init
//! waits for its namespace to be reaped), it says which and where it
//! waits, and keeps the state for a second delete. The bounds (seconds, in
//! the environment, for tests and slow hosts; runc has none of these):
//! BERTH_KILL_TIMEOUT (10 s) here, BERTH_HOOK_TIMEOUT (30 s, poststop hooks
//! without a timeout of their own, delete --force only), and the cgroup
//! piece's BERTH_CGROUP_TIMEOUT (5 s, rmdir answering EBUSY) and
//! BERTH_FREEZE_TIMEOUT (10 s).

use super::ContainerError;
use super::state::State;
use crate::cgroups::{self, CgroupManager};
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, PidfdFlags, Signal};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

const KILL_BOUND: (&str, Duration) = ("BERTH_KILL_TIMEOUT", Duration::from_secs(10));
const HOOK_BOUND: (&str, Duration) = ("BERTH_HOOK_TIMEOUT", Duration::from_secs(30));

/// The default bound on delete --force's poststop hooks.
pub fn hook_bound() -> crate::hooks::Bound {
    crate::hooks::Bound {
        limit: cgroups::bound(HOOK_BOUND.0, HOOK_BOUND.1),
        source: "berth's bound for delete --force, BERTH_HOOK_TIMEOUT",
    }
}

/// SIGKILL to the container process and everything in its cgroup, then
/// wait (on pidfds) until each is gone, up to BERTH_KILL_TIMEOUT. Returns
/// what is still there then, each process named with where it waits.
pub fn kill_all(
    state: &State,
    cg: Option<&cgroups::Manager>,
) -> Result<Vec<String>, ContainerError> {
    let mut fds = Vec::new();
    for pid in container_pids(state, cg) {
        let Some(p) = Pid::from_raw(pid) else {
            continue;
        };
        if let Ok(fd) = rustix::process::pidfd_open(p, PidfdFlags::empty()) {
            let _ = rustix::process::pidfd_send_signal(&fd, Signal::KILL);
            fds.push((pid, fd));
        }
    }
    // A frozen process keeps its SIGKILL pending until thawed: thawed after
    // the signals, so nothing of a paused container runs before it dies.
    if let Some(cg) = cg
        && cgroups::is_frozen(&state.cgroup_path)
    {
        cg.freeze(false)?;
    }
    let bound = cgroups::bound(KILL_BOUND.0, KILL_BOUND.1);
    let deadline = Instant::now() + bound;
    let left: Vec<String> = fds
        .into_iter()
        .filter(|(_, fd)| !gone_by(fd, deadline))
        .filter_map(|(pid, _)| still_there(pid, bound))
        .collect();
    Ok(left)
}

/// SIGKILL to one child of berth's (a create or exec that failed), reaped
/// once it is gone, up to BERTH_KILL_TIMEOUT. Returns what is left: the
/// process and where it waits, when it outlived the bound.
pub fn kill_child(pid: i32) -> Option<String> {
    let p = Pid::from_raw(pid)?;
    let Ok(fd) = rustix::process::pidfd_open(p, PidfdFlags::empty()) else {
        // Gone already, a zombie of ours at most.
        let _ = rustix::process::waitpid(Some(p), rustix::process::WaitOptions::NOHANG);
        return None;
    };
    let _ = rustix::process::pidfd_send_signal(&fd, Signal::KILL);
    let bound = cgroups::bound(KILL_BOUND.0, KILL_BOUND.1);
    if gone_by(&fd, Instant::now() + bound) {
        let _ = rustix::process::waitpid(Some(p), rustix::process::WaitOptions::empty());
        return None;
    }
    still_there(pid, bound)
}

/// A failed create's or restore's process, killed (kill_child). One that
/// outlives its SIGKILL keeps its cgroup and the state dir (its
/// cleanup.json), so that delete --force finds them: both are let go here,
/// and the caller removes only what is left.
pub fn kill_or_keep<C, D>(pid: Option<i32>, cgroup: &mut Option<C>, dir: &mut Option<D>) {
    if let Some(pid) = pid
        && let Some(left) = kill_child(pid)
    {
        crate::logging::warn(&format!(
            "cleanup: {left}; the container's state is kept: delete --force clears it"
        ));
        *cgroup = None;
        *dir = None;
    }
}

/// Every process of the container: its cgroup's, and its process. Without
/// a cgroup, a pid namespace's init takes every process of it along;
/// without one either, the container is its process.
fn container_pids(state: &State, cg: Option<&cgroups::Manager>) -> Vec<i32> {
    let mut pids = cg
        .map(|cg| cg.pids().unwrap_or_default())
        .unwrap_or_default();
    // With a pid namespace of its own, every process of the container is
    // in it (or below): one in berth's own namespace was placed in the
    // cgroup by someone else (before create, which warned), and is theirs.
    if state.pid_ns {
        let ns = |pid: &str| {
            std::fs::metadata(format!("/proc/{pid}/ns/pid"))
                .ok()
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        };
        let own = ns("self");
        pids.retain(|p| own.is_none() || ns(&p.to_string()) != own);
    }
    if state.alive() && !pids.contains(&state.pid) {
        pids.push(state.pid);
    }
    pids
}

/// Whether the process of `fd` has ended by `deadline`.
fn gone_by(fd: &OwnedFd, deadline: Instant) -> bool {
    let mut p = [PollFd::new(fd, PollFlags::IN)];
    !matches!(crate::syscall::poll_until(&mut p, Some(deadline)), Ok(0))
}

/// A process that outlived its SIGKILL by `bound`: where it waits, and
/// why when berth can tell (a freezer cgroup holding it, or a pid
/// namespace's init waiting for its namespace to be reaped).
fn still_there(pid: i32, bound: Duration) -> Option<String> {
    let waits = crate::syscall::proc_waits(pid)?;
    let mut why = String::new();
    if let Some((cgroup, state)) = cgroups::freezer_holding(pid) {
        why = format!(": it is held by freezer cgroup {cgroup} ({state}); thaw it");
    } else if waits.contains("zap_pid_ns_processes") {
        why = ": it is the init of a pid namespace whose processes are not all gone (or not reaped by a parent outside the container)".into();
    }
    Some(format!(
        "process {waits} did not die within {bound:.1?} of SIGKILL{why}"
    ))
}
