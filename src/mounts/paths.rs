//! After pivot_root: masked paths, read-only paths and sysctls. Each target
//! is resolved in the container's root by fd and checked for what it must
//! be before anything is mounted on it or written to it.

use super::mount::{attach, clone_fd, new_fs};
use super::options::MountOptions;
use super::resolve::{is_dir, open_in_root};
use crate::error::{SysContext, SysError};
use crate::syscall::{
    MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, MountAttr,
    mount_setattr,
};
use rustix::fs::{FileType, OFlags, ResolveFlags};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// Masks each path: a directory under an empty read-only tmpfs, anything
/// else under the container's /dev/null. A path that does not exist is
/// skipped, as the spec allows.
pub fn mask_paths(root: BorrowedFd, paths: &[PathBuf]) -> Result<(), SysError> {
    let mut null = None;
    for p in paths {
        let target = match open_in_root(root, p, OFlags::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(SysError::new("open masked path", p.display(), e)),
        };
        let mnt = if is_dir(&target)? {
            let mut o = MountOptions::default();
            o.attr.attr_set = MOUNT_ATTR_RDONLY;
            new_fs("tmpfs", "tmpfs", &o)?
        } else {
            if null.is_none() {
                null = Some(null_device(root)?);
            }
            clone_fd(null.as_ref().expect("just set").as_fd(), false)?
        };
        attach(mnt.as_fd(), target.as_fd())
            .map_err(|e| SysError::new("mask", p.display(), e.source))?;
    }
    Ok(())
}

/// The container's /dev/null, checked by fd to really be the null device:
/// a symlink or any other file put there (CVE-2025-31133) is refused, so
/// a masked path can never become a bind of something else.
fn null_device(root: BorrowedFd) -> Result<rustix::fd::OwnedFd, SysError> {
    let path = Path::new("/dev/null");
    let fd = rustix::fs::openat2(
        root,
        "dev/null",
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS,
    )
    .sys("open", path.display())?;
    let st = rustix::fs::fstat(&fd).sys("stat", path.display())?;
    let is_null = FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
        && rustix::fs::major(st.st_rdev) == 1
        && rustix::fs::minor(st.st_rdev) == 3;
    if !is_null {
        return Err(SysError::new(
            "mask with",
            "/dev/null",
            std::io::Error::other("it is not the null device (1:3)"),
        ));
    }
    Ok(fd)
}

/// Bind-mounts each path onto itself read-only (and nosuid, nodev, noexec
/// as runc does), recursively.
pub fn readonly_paths(root: BorrowedFd, paths: &[PathBuf]) -> Result<(), SysError> {
    for p in paths {
        let target = match open_in_root(root, p, OFlags::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(SysError::new("open read-only path", p.display(), e)),
        };
        let tree = clone_fd(target.as_fd(), true)?;
        let attr = MountAttr {
            attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
            ..Default::default()
        };
        mount_setattr(tree.as_fd(), true, &attr).sys("make read-only", p.display())?;
        attach(tree.as_fd(), target.as_fd())
            .map_err(|e| SysError::new("bind read-only", p.display(), e.source))?;
    }
    Ok(())
}

/// Writes linux.sysctl through a private procfs instance (`proc`, from
/// `private_proc`): no mount the container could make is in its way, and
/// every file is checked to be on procfs before it is written
/// (CVE-2025-52881).
pub fn write_sysctls(proc: BorrowedFd, sysctls: &[(String, String)]) -> Result<(), SysError> {
    for (key, value) in sysctls {
        let rel = format!("sys/{}", key.replace('.', "/"));
        let what = format!("sysctl {key}");
        let fd = rustix::fs::openat2(
            proc,
            rel.as_str(),
            OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            rustix::fs::Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV,
        )
        .sys("open", &what)?;
        let fs = rustix::fs::fstatfs(&fd).sys("statfs", &what)?;
        if fs.f_type != rustix::fs::PROC_SUPER_MAGIC {
            return Err(SysError::new(
                "write",
                &what,
                std::io::Error::other("not on procfs"),
            ));
        }
        let mut f = std::fs::File::from(fd);
        f.write_all(value.as_bytes()).sys("write", &what)?;
    }
    Ok(())
}
