//! Mounting by file descriptor with the new mount API: a filesystem or a
//! bind is first made as a detached mount (fsmount, open_tree), given its
//! attributes, then attached to a target fd (move_mount). Nothing here
//! walks a path inside the container.

use super::options::{MountOptions, Propagation};
use crate::error::{SysContext, SysError};
use crate::syscall::{MountAttr, mount_setattr};
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// A new, detached mount of filesystem `fstype`.
pub fn new_fs(fstype: &str, source: &str, o: &MountOptions) -> Result<OwnedFd, SysError> {
    let fs = rustix::mount::fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC).sys("fsopen", fstype)?;
    let cfg = |r: rustix::io::Result<()>, what: &str| -> Result<(), SysError> {
        r.map_err(|e| {
            SysError::new(
                "configure",
                format!("{fstype} {what}{}", fs_log(fs.as_fd())),
                e,
            )
        })
    };
    if !source.is_empty() {
        cfg(
            rustix::mount::fsconfig_set_string(&fs, "source", source),
            "source",
        )?;
    }
    for (k, v) in &o.data {
        match v {
            Some(v) => cfg(
                rustix::mount::fsconfig_set_string(&fs, k.as_str(), v.as_str()),
                &format!("option {k}={v}"),
            )?,
            None => cfg(
                rustix::mount::fsconfig_set_flag(&fs, k.as_str()),
                &format!("option {k}"),
            )?,
        }
    }
    for f in &o.sb_flags {
        cfg(
            rustix::mount::fsconfig_set_flag(&fs, *f),
            &format!("option {f}"),
        )?;
    }
    cfg(rustix::mount::fsconfig_create(&fs), "")?;
    // A new mount has nothing below it yet: rro is ro here.
    let attrs = MountAttrFlags::from_bits_retain((o.attr.attr_set | o.rec_attr.attr_set) as u32);
    rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).sys("fsmount", fstype)
}

/// The kernel's own words on why fsconfig failed, read from the fs context.
fn fs_log(fs: BorrowedFd) -> String {
    let mut out = String::new();
    let mut buf = [0u8; 512];
    // Each read returns one message; stop at the first error (ENODATA).
    for _ in 0..8 {
        match rustix::io::read(fs, &mut buf) {
            Ok(n) if n > 2 => {
                let msg = String::from_utf8_lossy(&buf[2..n]).to_string();
                out.push_str(&format!(" ({msg})"));
            }
            _ => break,
        }
    }
    out
}

/// A detached copy of the mount at `source` (with the mounts below it if
/// `recursive`).
pub fn clone_tree(source: &Path, recursive: bool) -> Result<OwnedFd, SysError> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    rustix::mount::open_tree(rustix::fs::CWD, source, flags).sys("bind", source.display())
}

/// A detached copy of the file or directory an fd refers to.
pub fn clone_fd(fd: BorrowedFd, recursive: bool) -> Result<OwnedFd, SysError> {
    clone_opened(fd, "fd", recursive)
}

/// `clone_fd` of a bind source opened beforehand; errors name `source`.
pub fn clone_opened(
    fd: BorrowedFd,
    source: impl std::fmt::Display,
    recursive: bool,
) -> Result<OwnedFd, SysError> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_EMPTY_PATH;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    rustix::mount::open_tree(fd, "", flags).sys("bind", source)
}

/// Gives a detached bind its attributes, the top mount's, then the tree's.
pub fn set_bind_attrs(tree: BorrowedFd, o: &MountOptions) -> Result<(), SysError> {
    if o.attr != MountAttr::default() {
        mount_setattr(tree, false, &o.attr).sys("set attributes on", "bind mount")?;
    }
    if o.rec_attr != MountAttr::default() {
        mount_setattr(tree, true, &o.rec_attr).sys("set recursive attributes on", "bind mount")?;
    }
    Ok(())
}

/// Attaches a detached mount onto the file or directory `target` refers to.
pub fn attach(mnt: BorrowedFd, target: BorrowedFd) -> Result<(), SysError> {
    rustix::mount::move_mount(
        mnt,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .sys("attach mount", "")
}

/// Sets propagation on an attached mount, in the order given.
pub fn set_propagation(mnt: BorrowedFd, props: &[Propagation]) -> Result<(), SysError> {
    for p in props {
        let attr = MountAttr {
            propagation: p.flag,
            ..Default::default()
        };
        mount_setattr(mnt, p.recursive, &attr).sys("set propagation on", "mount")?;
    }
    Ok(())
}
