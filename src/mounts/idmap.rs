//! idmap and ridmap bind mounts. The source filesystem belongs to the
//! host's user namespace, so only berth (before the clone, with the host's
//! CAP_SYS_ADMIN) can idmap it: the detached, idmapped tree is made here
//! and the container process only attaches it.

use super::mount::clone_tree;
use crate::error::{SysContext, SysError};
use crate::syscall::{MountAttr, clone_fork, mount_setattr, write_id_maps};
use rustix::process::{Pid, Signal, WaitOptions};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// A user namespace holding exactly these mappings, as an fd: a child is
/// forked into a new one, mapped from here, and its namespace kept.
pub fn userns_with_maps(uid_map: &str, gid_map: &str) -> Result<OwnedFd, SysError> {
    let child = clone_fork(crate::syscall::CLONE_NEWUSER, None, false)
        .sys("clone", "id-mapping user namespace")?;
    let Some(child) = child else {
        // The child only has to exist until its namespace is opened.
        crate::syscall::pause_forever()
    };
    let pid = Pid::from_raw(child.pid).expect("positive pid");
    let result = write_id_maps(child.pid, uid_map, gid_map).and_then(|_| {
        let p = format!("/proc/{}/ns/user", child.pid);
        rustix::fs::open(
            &p,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .sys("open", &p)
    });
    let _ = rustix::process::kill_process(pid, Signal::KILL);
    let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
    result
}

/// The detached bind of `source`, idmapped through `userns`; the mounts
/// below it too with ridmap.
pub fn idmapped_tree(
    source: &Path,
    recursive: bool,
    userns: &OwnedFd,
) -> Result<OwnedFd, SysError> {
    let tree = clone_tree(source, recursive)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        userns_fd: userns.as_raw_fd() as u64,
        ..Default::default()
    };
    mount_setattr(tree.as_fd(), recursive, &attr).sys("idmap", source.display())?;
    Ok(tree)
}
