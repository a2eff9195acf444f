//! Bind sources opened for a container process in a user namespace. That
//! process is the namespace's root, which the host's permissions treat as
//! an unprivileged user: a source under a directory only the host's root
//! may enter (0700) is out of its reach. berth, still the host's root,
//! opens each source for it, through the process's own root (so the fd is
//! on the process's copy of the mount, which it may bind, and which keeps
//! the locks a less privileged namespace puts on the host's mount flags).
//! runc 1.1 does the same from a helper that enters the mount namespace.

use super::resolve::open_in_root;
use super::{MountKind, Plan};
use rustix::fs::{Mode, OFlags};
use std::os::fd::{AsFd, OwnedFd};

impl Plan {
    /// The bind mounts (positions in `mounts`) whose sources berth opens
    /// for the container process: all of them in a user namespace with a
    /// mount namespace, except idmapped ones (made by berth already) and
    /// remounts (which have no source).
    pub fn sources_to_open(&self) -> Vec<usize> {
        if !(self.userns && self.mount_ns) {
            return Vec::new();
        }
        self.mounts
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                matches!(m.kind, MountKind::Bind { .. })
                    && m.prepared.is_none()
                    && !m.options.remount
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// Opens, in the mount namespace of process `pid` and as this process, the
/// source of each mount `sources_to_open` names (O_PATH, close-on-exec).
/// A source that cannot be opened this way (missing, or reached through a
/// magic link such as /proc/self/fd/N) has no fd: the container process
/// then resolves it itself, and reports what it finds.
pub fn open_sources(plan: &Plan, pid: i32) -> Vec<(usize, Option<OwnedFd>)> {
    let wanted = plan.sources_to_open();
    // The process's root, in its mount namespace: "/" of every source is
    // taken there, never in berth's own namespace.
    let root = rustix::fs::open(
        format!("/proc/{pid}/root"),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok();
    wanted
        .into_iter()
        .map(|i| {
            let MountKind::Bind { source } = &plan.mounts[i].kind else {
                unreachable!("sources_to_open lists binds only")
            };
            let fd = root
                .as_ref()
                .and_then(|r| open_in_root(r.as_fd(), source, OFlags::empty()).ok());
            (i, fd)
        })
        .collect()
}
