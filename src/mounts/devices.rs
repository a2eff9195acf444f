//! /dev's device nodes and links: the spec's default devices and
//! linux.devices, made with mknod, or bound from the host's nodes inside a
//! user namespace (where mknod is not allowed and a host node's owner is
//! unmapped, so the container cannot change it).

use super::mount::{attach, clone_fd, clone_tree};
use super::resolve::{create_file, open_in_root, split};
use crate::config::ConfigError;
use crate::error::{SysContext, SysError};
use oci_spec::runtime::{Linux, LinuxDeviceType};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub path: PathBuf,
    pub kind: FileType,
    pub major: u32,
    pub minor: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

fn char_dev(path: &str, major: u32, minor: u32) -> Device {
    Device {
        path: PathBuf::from(path),
        kind: FileType::CharacterDevice,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    }
}

/// The runtime-spec's default devices.
pub fn defaults() -> Vec<Device> {
    vec![
        char_dev("/dev/null", 1, 3),
        char_dev("/dev/zero", 1, 5),
        char_dev("/dev/full", 1, 7),
        char_dev("/dev/random", 1, 8),
        char_dev("/dev/urandom", 1, 9),
        char_dev("/dev/tty", 5, 0),
    ]
}

/// linux.devices, after the defaults; an entry for a default's path
/// replaces it.
pub fn from_spec(linux: &Linux) -> Result<Vec<Device>, ConfigError> {
    let mut out = defaults();
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
            LinuxDeviceType::B => FileType::BlockDevice,
            LinuxDeviceType::P => FileType::Fifo,
            LinuxDeviceType::A => {
                return Err(ConfigError::invalid(
                    format!("linux.devices[{i}].type"),
                    "must be one of c, b, u, p",
                ));
            }
        };
        let num = |v: i64, what: &str| {
            u32::try_from(v).map_err(|_| {
                ConfigError::invalid(
                    format!("linux.devices[{i}].{what}"),
                    format!("{v} is out of range"),
                )
            })
        };
        let dev = Device {
            path: d.path().clone(),
            kind,
            major: num(d.major(), "major")?,
            minor: num(d.minor(), "minor")?,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        out.retain(|o| o.path != dev.path);
        out.push(dev);
    }
    Ok(out)
}

/// Creates every device under `root` (the rootfs, before pivot_root).
pub fn create(root: BorrowedFd, devices: &[Device], userns: bool) -> Result<(), SysError> {
    for d in devices {
        if userns {
            bind_host_node(root, d)?;
        } else {
            mknod(root, d)?;
        }
    }
    Ok(())
}

fn mknod(root: BorrowedFd, d: &Device) -> Result<(), SysError> {
    let (dir, name) = split(root, &d.path)?;
    let dev = rustix::fs::makedev(d.major, d.minor);
    match rustix::fs::mknodat(&dir, name, d.kind, Mode::from_raw_mode(d.mode), dev) {
        // runc keeps a node the rootfs already has.
        Err(rustix::io::Errno::EXIST) => return Ok(()),
        r => r.sys("mknod", d.path.display())?,
    }
    rustix::fs::chownat(
        &dir,
        name,
        Some(rustix::fs::Uid::from_raw(d.uid)),
        Some(rustix::fs::Gid::from_raw(d.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .sys("chown", d.path.display())
}

fn bind_host_node(root: BorrowedFd, d: &Device) -> Result<(), SysError> {
    let target = create_file(root, &d.path, 0o000)?;
    let node = clone_tree(&d.path, false)?;
    attach(node.as_fd(), target.as_fd())
        .map_err(|e| SysError::new("bind device", d.path.display(), e.source))
}

/// /dev/fd, stdin, stdout, stderr, ptmx (to the devpts instance) and core.
pub fn links(root: BorrowedFd) -> Result<(), SysError> {
    let mut links = vec![
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "/dev/core"));
    }
    for (target, path) in links {
        let (dir, name) = split(root, Path::new(path))?;
        match rustix::fs::symlinkat(target, &dir, name) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(SysError::new("symlink", path, e)),
        }
    }
    // /dev/ptmx must lead to the container's own devpts instance.
    let (dir, name) = split(root, Path::new("/dev/ptmx"))?;
    match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(SysError::new("remove", "/dev/ptmx", e)),
    }
    rustix::fs::symlinkat("pts/ptmx", &dir, name).sys("symlink", "/dev/ptmx")
}

/// /dev/console in the container is the pty slave. The target is made by
/// us in /dev and checked to be a plain file, never followed as a link
/// (CVE-2025-52565).
pub fn bind_console(root: BorrowedFd, slave: BorrowedFd) -> Result<(), SysError> {
    let path = Path::new("/dev/console");
    let target = match open_in_root(root, path, OFlags::NOFOLLOW) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => {
            let dev =
                open_in_root(root, Path::new("/dev"), OFlags::DIRECTORY).sys("open", "/dev")?;
            let f = rustix::fs::openat(
                &dev,
                "console",
                OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .sys("create", path.display())?;
            drop(f);
            rustix::fs::openat2(
                &dev,
                "console",
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
            )
            .sys("open", path.display())?
        }
        Err(e) => return Err(SysError::new("open", path.display(), e)),
    };
    let st = rustix::fs::fstat(&target).sys("stat", path.display())?;
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind != FileType::RegularFile && kind != FileType::CharacterDevice {
        return Err(SysError::new(
            "bind pty to",
            path.display(),
            std::io::Error::other("not a regular file"),
        ));
    }
    let tree = clone_fd(slave, false)?;
    attach(tree.as_fd(), target.as_fd())
}

/// The container process's stdio that is the host's /dev/null (a client
/// such as conmon hands it over for a detached container's stdin), opened
/// again as the container's own /dev/null, read-write, as runc does when
/// it makes /dev. A file of the host's mount namespace is no file CRIU can
/// dump: it finds no mount for it in the container's ("Can't lookup mount
/// for fd=0 path=/dev/null"), and a checkpoint would fail. After
/// pivot_root, with `root` the container's "/".
pub fn reopen_dev_null(root: BorrowedFd) -> Result<(), SysError> {
    let null = rustix::fs::openat2(
        root,
        "dev/null",
        OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
    )
    .sys("open", "/dev/null")?;
    let st = rustix::fs::fstat(&null).sys("stat", "/dev/null")?;
    if FileType::from_raw_mode(st.st_mode) != FileType::CharacterDevice {
        // Not the node berth made: nothing to open again.
        return Ok(());
    }
    for fd in 0..3 {
        // SAFETY: fds 0-2 of this process; only stat'ed, then replaced by
        // dup3 (which closes the old one) without being owned here.
        let stdio = unsafe { BorrowedFd::borrow_raw(fd) };
        let Ok(s) = rustix::fs::fstat(stdio) else {
            continue;
        };
        let same = FileType::from_raw_mode(s.st_mode) == FileType::CharacterDevice
            && s.st_rdev == st.st_rdev;
        if same {
            // SAFETY: as above; the new fd is fd itself, kept open.
            let mut target = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
            let r = rustix::io::dup3(&null, &mut target, rustix::io::DupFlags::empty());
            std::mem::forget(target);
            r.sys("reopen /dev/null as fd", fd)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_devices_replace_defaults() {
        let linux: Linux = serde_json::from_str(
            r#"{"devices":[{"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":384},
                           {"path":"/dev/fuse","type":"c","major":10,"minor":229,"uid":5,"gid":6}]}"#,
        )
        .unwrap();
        let d = from_spec(&linux).unwrap();
        assert_eq!(
            d.iter()
                .filter(|d| d.path == Path::new("/dev/null"))
                .count(),
            1
        );
        let null = d.iter().find(|d| d.path == Path::new("/dev/null")).unwrap();
        assert_eq!(null.mode, 0o600);
        let fuse = d.iter().find(|d| d.path == Path::new("/dev/fuse")).unwrap();
        assert_eq!(
            (fuse.major, fuse.minor, fuse.uid, fuse.gid),
            (10, 229, 5, 6)
        );
    }
}
