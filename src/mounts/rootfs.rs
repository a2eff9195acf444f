//! The sequence that turns the bundle's rootfs into the container's "/":
//! `prepare` (before pivot_root, host paths still visible), `pivot`, and
//! `finish` (after it).

use super::mount::{attach, clone_opened, clone_tree, new_fs, set_bind_attrs, set_propagation};
use super::options::{MountOptions, propagation_flag};
use super::resolve::{create_file, fd_path, is_dir, mkdir_all, open_dir, open_in_root};
use super::{CgroupView, MountKind, MountPlan, Plan, devices, paths};
use crate::error::{SysContext, SysError};
use crate::mountinfo;
use crate::syscall::{MOUNT_ATTR_RDONLY, MountAttr, mount_setattr};
use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountPropagationFlags, UnmountFlags};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("mounts[{index}] ({dest}): {source}")]
    Mount {
        index: usize,
        dest: String,
        source: SysError,
    },
    #[error("rootfs {path}: {source}")]
    Root { path: String, source: SysError },
    #[error("{0}")]
    Sys(#[from] SysError),
}

/// A procfs instance of the container's pid namespace that is mounted
/// nowhere: sysctls and /proc/self lookups go through it, out of reach of
/// any mount the container could make.
pub fn private_proc() -> Result<OwnedFd, SysError> {
    new_fs("proc", "proc", &MountOptions::default())
}

/// Binds the rootfs onto itself (so it can be pivoted to), mounts the
/// config's mounts in order and makes /dev's nodes. `sources` holds the
/// bind sources berth opened for this process (`sources::open_sources`),
/// by position in `plan.mounts`. Returns an fd on the root of the new tree.
pub fn prepare(plan: &Plan, sources: &[(usize, OwnedFd)]) -> Result<OwnedFd, RootfsError> {
    let root_err = |source| RootfsError::Root {
        path: plan.rootfs.display().to_string(),
        source,
    };
    if plan.mount_ns {
        isolate(plan).map_err(root_err)?;
    }
    // The rootfs bound onto itself: a mount of the container's own, which
    // pivot_root needs, root.readonly may change, and (without a mount
    // namespace) delete detaches with everything on it.
    let root = clone_tree(&plan.rootfs, true).map_err(root_err)?;
    let target = rustix::fs::open(
        &plan.rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .sys("open", "")
    .map_err(root_err)?;
    attach(root.as_fd(), target.as_fd()).map_err(root_err)?;
    for (i, m) in plan.mounts.iter().enumerate() {
        let opened = sources.iter().find(|(at, _)| *at == i).map(|(_, fd)| fd);
        mount_one(root.as_fd(), m, opened, plan).map_err(|source| RootfsError::Mount {
            index: m.index,
            dest: m.destination.display().to_string(),
            source,
        })?;
    }
    if plan.setup_dev {
        devices::create(root.as_fd(), &plan.devices, plan.userns)?;
        devices::links(root.as_fd())?;
    }
    Ok(root)
}

/// Cuts the container's mount namespace off from the host's: recursively
/// slave (private if rootfsPropagation says so), so that nothing mounted
/// from here on propagates back. With a shared rootfsPropagation (what
/// containerd asks for Kubernetes' Bidirectional volumes) the host's shared
/// mounts stay peers, so that a bind of one with rshared carries the
/// container's mounts back; then only the mount the rootfs is on is made
/// private, as pivot_root requires and so that the rootfs and what is
/// mounted on it stay off the host.
fn isolate(plan: &Plan) -> Result<(), SysError> {
    let flag = plan.propagation.map(|p| p.flag);
    let is = |name| flag == propagation_flag(name).map(|p| p.flag);
    let flags = match () {
        _ if is("private") => MountPropagationFlags::PRIVATE,
        _ if is("shared") => MountPropagationFlags::SHARED,
        _ => MountPropagationFlags::DOWNSTREAM,
    };
    rustix::mount::mount_change("/", flags | MountPropagationFlags::REC)
        .sys("set propagation of", "/")?;
    if is("shared") {
        let under = mount_root_of(&plan.rootfs)?;
        let attr = MountAttr {
            propagation: propagation_flag("private").expect("known").flag,
            ..Default::default()
        };
        mount_setattr(under.as_fd(), false, &attr)
            .sys("make private", "the mount under the rootfs")?;
    }
    Ok(())
}

/// The root of the mount the directory `path` is on: the last directory
/// on the way up with the same mount id.
fn mount_root_of(path: &Path) -> Result<OwnedFd, SysError> {
    use rustix::fs::{AtFlags, StatxFlags, statx};
    let id = |fd: &OwnedFd| {
        statx(
            fd,
            "",
            AtFlags::EMPTY_PATH,
            StatxFlags::MNT_ID | StatxFlags::INO,
        )
        .map(|s| (s.stx_mnt_id, s.stx_ino))
    };
    let dir = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut cur = rustix::fs::open(path, dir, Mode::empty()).sys("open", path.display())?;
    let (mnt, mut ino) = id(&cur).sys("stat", path.display())?;
    // Bounded: a path has at most PATH_MAX / 2 components.
    for _ in 0..2048 {
        let up = rustix::fs::openat(&cur, "..", dir, Mode::empty())
            .sys("open parent of", path.display())?;
        let (up_mnt, up_ino) = id(&up).sys("stat parent of", path.display())?;
        // ".." of "/" is "/" again.
        if up_mnt != mnt || up_ino == ino {
            return Ok(cur);
        }
        (cur, ino) = (up, up_ino);
    }
    Err(SysError::new(
        "find the mount of",
        path.display(),
        std::io::Error::from_raw_os_error(libc::ELOOP),
    ))
}

fn mount_one(
    root: BorrowedFd,
    m: &MountPlan,
    opened: Option<&OwnedFd>,
    plan: &Plan,
) -> Result<(), SysError> {
    let o = &m.options;
    if o.remount {
        let target = open_in_root(root, &m.destination, OFlags::empty())
            .sys("open", m.destination.display())?;
        return set_bind_attrs(target.as_fd(), o);
    }
    match &m.kind {
        MountKind::Bind { source } => {
            let dir = match opened {
                Some(fd) => is_dir(fd)?,
                None => std::fs::metadata(source)
                    .sys("bind source", source.display())?
                    .is_dir(),
            };
            let target = if dir {
                mkdir_all(root, &m.destination, 0o755)?
            } else {
                create_file(root, &m.destination, 0o644)?
            };
            let cloned;
            let tree = match (&m.prepared, opened) {
                (Some(t), _) => t.as_fd(),
                (None, Some(fd)) => {
                    cloned = clone_opened(fd.as_fd(), source.display(), o.recursive_bind)?;
                    cloned.as_fd()
                }
                (None, None) => {
                    cloned = clone_tree(source, o.recursive_bind)?;
                    cloned.as_fd()
                }
            };
            set_bind_attrs(tree, o)?;
            attach(tree, target.as_fd())?;
            set_propagation(tree, &o.propagation)
        }
        MountKind::Fs { fstype, source } => {
            if fstype == "proc" || fstype == "sysfs" {
                ordinary_dir(root, &m.destination, fstype)?;
            }
            let target = mkdir_all(root, &m.destination, 0o755)?;
            let mnt = match new_fs(fstype, source, o) {
                // sysfs belongs to a network namespace: in a user namespace
                // without its own, only the host's can be shown (as runc does).
                Err(e) if fstype == "sysfs" && plan.userns && e.errno() == Some(libc::EPERM) => {
                    let tree = clone_tree(Path::new("/sys"), true)?;
                    set_bind_attrs(tree.as_fd(), o)?;
                    tree
                }
                r => r?,
            };
            if o.tmpcopyup {
                copy_up(target.as_fd(), mnt.as_fd())?;
            }
            attach(mnt.as_fd(), target.as_fd())?;
            set_propagation(mnt.as_fd(), &o.propagation)
        }
        MountKind::Cgroup => cgroup_mount(root, m, plan),
    }
}

/// proc and sysfs go on a directory of the rootfs, never through a symlink
/// at the destination, wherever it leads (CVE-2019-19921, CVE-2023-27561):
/// refused as runc refuses it. A missing destination is made afterwards.
fn ordinary_dir(root: BorrowedFd, dest: &Path, fstype: &str) -> Result<(), SysError> {
    match open_in_root(root, dest, OFlags::NOFOLLOW) {
        Ok(fd) if !is_dir(&fd)? => Err(SysError::new(
            "mount",
            format!("{fstype} on {}", dest.display()),
            std::io::Error::other(format!(
                "filesystem {fstype:?} must be mounted on ordinary directory, not a symlink or file"
            )),
        )),
        Ok(_) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(SysError::new("open", dest.display(), e)),
    }
}

/// tmpcopyup: what the rootfs has at the destination is copied into the
/// new tmpfs before it covers it (files, directories and symlinks, with
/// their modes and owners).
fn copy_up(from: BorrowedFd, to: BorrowedFd) -> Result<(), SysError> {
    copy_tree(&fd_path(from), &fd_path(to))
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), SysError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for entry in std::fs::read_dir(from).sys("read", from.display())? {
        let entry = entry.sys("read", from.display())?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = std::fs::symlink_metadata(&src).sys("stat", src.display())?;
        let kind = meta.file_type();
        if kind.is_dir() {
            std::fs::create_dir(&dst).sys("mkdir", dst.display())?;
            copy_tree(&src, &dst)?;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
                .sys("chmod", dst.display())?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(
                std::fs::read_link(&src).sys("readlink", src.display())?,
                &dst,
            )
            .sys("symlink", dst.display())?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).sys("copy", src.display())?;
        } else {
            continue;
        }
        std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid()))
            .sys("chown", dst.display())?;
    }
    Ok(())
}

/// runc's `cgroup` mount: on cgroup v2 the container's cgroup itself; on v1
/// a tmpfs holding one directory per hierarchy, each the container's own
/// cgroup (a fresh mount inside a cgroup namespace, a bind otherwise).
fn cgroup_mount(root: BorrowedFd, m: &MountPlan, plan: &Plan) -> Result<(), SysError> {
    let o = &m.options;
    let target = mkdir_all(root, &m.destination, 0o755)?;
    let view_mount = |v: &CgroupView| -> Result<OwnedFd, SysError> {
        if plan.cgroupns {
            let vo = MountOptions {
                attr: o.attr,
                rec_attr: o.rec_attr,
                data: v.options.clone(),
                ..Default::default()
            };
            new_fs(v.fstype, "cgroup", &vo)
        } else {
            let tree = clone_tree(&v.host_path, false)?;
            set_bind_attrs(tree.as_fd(), o)?;
            Ok(tree)
        }
    };
    if let [v] = plan.cgroup_views.as_slice()
        && v.name.is_empty()
    {
        let mnt = view_mount(v)?;
        return attach(mnt.as_fd(), target.as_fd());
    }
    let mut tmpfs_opts = MountOptions {
        attr: o.attr,
        ..Default::default()
    };
    tmpfs_opts.attr.attr_set &= !MOUNT_ATTR_RDONLY;
    tmpfs_opts.data.push(("mode".into(), Some("755".into())));
    let tmpfs = new_fs("tmpfs", "tmpfs", &tmpfs_opts)?;
    attach(tmpfs.as_fd(), target.as_fd())?;
    for v in &plan.cgroup_views {
        rustix::fs::mkdirat(&tmpfs, v.name.as_str(), Mode::from_raw_mode(0o755))
            .sys("mkdir", &v.name)?;
        let sub = rustix::fs::openat(
            &tmpfs,
            v.name.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .sys("open", &v.name)?;
        let mnt = view_mount(v)?;
        attach(mnt.as_fd(), sub.as_fd())?;
        // cpu,cpuacct is reachable as cpu and as cpuacct too.
        if v.name.contains(',') {
            for part in v.name.split(',') {
                rustix::fs::symlinkat(v.name.as_str(), &tmpfs, part).sys("symlink", part)?;
            }
        }
    }
    if o.readonly() {
        let attr = MountAttr {
            attr_set: MOUNT_ATTR_RDONLY,
            ..Default::default()
        };
        mount_setattr(tmpfs.as_fd(), false, &attr)
            .sys("make read-only", m.destination.display())?;
    }
    Ok(())
}

/// At restore: each mount's destination made in the rootfs, as create
/// makes it (a directory, or a file for a bind of a file), so that CRIU
/// finds a mount point for every mount it restores on a rootfs that never
/// ran the container (a fresh copy, podman's restore --import). A mount
/// beneath a bind is made in that bind's source, where the container sees
/// it (runc binds the source for a moment instead; the path is enough).
/// Those beneath a filesystem the config mounts (a tmpfs at /dev) are left
/// out: CRIU restores that filesystem with what it holds.
pub fn make_targets(plan: &Plan) -> Result<(), RootfsError> {
    let rootfs = open_dir(&plan.rootfs).map_err(|source| RootfsError::Root {
        path: plan.rootfs.display().to_string(),
        source,
    })?;
    let mut filesystems: Vec<&Path> = Vec::new();
    // (destination, source) of the binds made so far, innermost last.
    let mut binds: Vec<(&Path, &Path)> = Vec::new();
    for m in plan.mounts.iter().filter(|m| !m.options.remount) {
        let dest = m.destination.as_path();
        let beneath = |d: &Path| dest != d && dest.starts_with(d);
        if filesystems.iter().any(|f| beneath(f)) {
            continue;
        }
        let outer = binds.iter().rev().find(|(d, _)| beneath(d));
        let source_root;
        let (root, path) = match outer {
            Some((d, source)) => {
                source_root = open_dir(source).map_err(|source| RootfsError::Mount {
                    index: m.index,
                    dest: dest.display().to_string(),
                    source,
                })?;
                (source_root.as_fd(), dest.strip_prefix(d).unwrap_or(dest))
            }
            None => (rootfs.as_fd(), dest),
        };
        let made = match &m.kind {
            MountKind::Bind { source } => {
                binds.push((dest, source.as_path()));
                match std::fs::metadata(source) {
                    Ok(meta) if !meta.is_dir() => create_file(root, path, 0o644),
                    _ => mkdir_all(root, path, 0o755),
                }
            }
            MountKind::Fs { .. } | MountKind::Cgroup => {
                filesystems.push(dest);
                mkdir_all(root, path, 0o755)
            }
        };
        made.map_err(|source| RootfsError::Mount {
            index: m.index,
            dest: dest.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Makes `root` the container's "/": pivot_root (the old root stacked on
/// top and detached), MS_MOVE + chroot with --no-pivot, or only chroot when
/// the container shares the host's mount namespace.
pub fn pivot(plan: &Plan, root: BorrowedFd) -> Result<(), SysError> {
    rustix::process::fchdir(root).sys("chdir to", "rootfs")?;
    if !plan.mount_ns {
        rustix::process::chroot(".").sys("chroot", "rootfs")?;
    } else if plan.no_pivot {
        drop_host_proc_sys(&plan.rootfs)?;
        rustix::mount::mount_move(".", "/").sys("move", "rootfs to /")?;
        rustix::process::chroot(".").sys("chroot", "rootfs")?;
    } else {
        let old = rustix::fs::open(
            "/",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .sys("open", "/")?;
        rustix::process::pivot_root(".", ".").sys("pivot_root", "rootfs")?;
        // The old root is now on top of the new one; keep its unmount from
        // propagating to the host, then drop it. Only it: the new root's
        // mounts keep their propagation (a shared bind stays the host's peer).
        rustix::process::fchdir(&old).sys("chdir to", "old root")?;
        rustix::mount::mount_change(
            ".",
            MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
        )
        .sys("make old root rslave", "")?;
        rustix::mount::unmount(".", UnmountFlags::DETACH).sys("detach", "old root")?;
    }
    rustix::process::chdir("/").sys("chdir", "/")
}

/// --no-pivot leaves the host's tree under the moved rootfs, in the
/// container's mount namespace, where whatever reaches the old root would
/// find the host's /proc and /sys. As runc does, every full proc and sysfs
/// mount outside the rootfs is detached (made a slave first, so that the
/// host keeps it), or covered with an empty tmpfs where the kernel keeps it
/// in place (locked, in a user namespace). A covered one still counts when
/// the container's root mounts a new proc or sysfs (the kernel ignores
/// unlocked mounts on top): with its own /proc and /sys, which count too,
/// that changes nothing (tests/compat/mounts.rs); a config without them
/// gets what pivot_root would refuse, and runc cannot run such a config.
fn drop_host_proc_sys(rootfs: &Path) -> Result<(), SysError> {
    let info = mountinfo::read()?;
    for point in full_proc_sys_mounts(&info)
        .iter()
        .filter(|p| !p.starts_with(rootfs))
    {
        match rustix::mount::mount_change(
            point,
            MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
        ) {
            // Gone with a mount above it, detached earlier.
            Err(rustix::io::Errno::NOENT) => continue,
            r => r.sys("make rslave", point.display())?,
        }
        match rustix::mount::unmount(point, UnmountFlags::DETACH) {
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::PERM) => {
                let at = rustix::fs::open(
                    point,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .sys("open", point.display())?;
                let tmpfs = new_fs(
                    "tmpfs",
                    "tmpfs",
                    &MountOptions::parse(&["ro".into(), "size=0".into()]),
                )?;
                attach(tmpfs.as_fd(), at.as_fd())?;
            }
            r => r.sys("detach", point.display())?,
        }
    }
    Ok(())
}

/// The mount points of proc and sysfs mounts of a whole filesystem (not a
/// bind of a part of it), from a mountinfo text.
fn full_proc_sys_mounts(info: &str) -> Vec<std::path::PathBuf> {
    mountinfo::parse(info)
        .filter(|m| m.root == "/" && matches!(m.fstype, "proc" | "sysfs"))
        .map(|m| m.mount_point)
        .collect()
}

/// After pivot_root: rootfs propagation, sysctls, read-only and masked paths.
pub fn finish(plan: &Plan, proc: BorrowedFd) -> Result<OwnedFd, SysError> {
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .sys("open", "/")?;
    if let Some(p) = plan.propagation
        && plan.mount_ns
    {
        let attr = MountAttr {
            propagation: p.flag,
            ..Default::default()
        };
        mount_setattr(root.as_fd(), p.recursive, &attr).sys("set rootfsPropagation on", "/")?;
    }
    paths::write_sysctls(proc, &plan.sysctl)?;
    paths::readonly_paths(root.as_fd(), &plan.readonly_paths)?;
    paths::mask_paths(root.as_fd(), &plan.masked)?;
    Ok(root)
}

/// The mount id of whatever is mounted at `path` now.
pub fn mount_id(path: &Path) -> Option<u64> {
    rustix::fs::statx(
        rustix::fs::CWD,
        path,
        rustix::fs::AtFlags::empty(),
        rustix::fs::StatxFlags::MNT_ID,
    )
    .ok()
    .map(|s| s.stx_mnt_id)
}

/// Without a mount namespace the container's mounts are the host's: this
/// detaches what berth stacked on the rootfs (its bind of the rootfs, with
/// everything on it) until the mount that was there before shows again.
pub fn detach_from_host(rootfs: &Path, before: u64) {
    for _ in 0..8 {
        match mount_id(rootfs) {
            Some(id) if id != before => {
                if rustix::mount::unmount(rootfs, UnmountFlags::DETACH).is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// The last step, once nothing more is made in /dev or "/": a read-only
/// /dev (mounted read-write for its nodes) becomes so, then root.readonly
/// makes "/" itself read-only, the mounts on it as they are.
pub fn readonly_root(plan: &Plan, root: BorrowedFd) -> Result<(), SysError> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        ..Default::default()
    };
    if let Some(recursive) = plan.dev_readonly {
        let dev = open_in_root(
            root,
            Path::new("/dev"),
            OFlags::DIRECTORY | OFlags::NOFOLLOW,
        )
        .sys("open", "/dev")?;
        mount_setattr(dev.as_fd(), recursive, &attr).sys("make read-only", "/dev")?;
    }
    if plan.readonly {
        mount_setattr(root, false, &attr).sys("make read-only", "/")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_proc_and_sysfs_mounts_from_mountinfo() {
        let info = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
                    23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n\
                    47 69 0:41 /bus /proc/bus ro,relatime - proc proc rw\n\
                    50 27 0:23 / /a\\040b rw - proc proc rw\n\
                    24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw\n";
        let got = full_proc_sys_mounts(info);
        assert_eq!(
            got,
            vec![Path::new("/proc"), Path::new("/sys"), Path::new("/a b")]
        );
    }
}
