//! The sequence that turns the bundle's rootfs into the container's "/":
//! `prepare` (before pivot_root, host paths still visible), `pivot`, and
//! `finish` (after it).

use super::mount::{attach, clone_tree, new_fs, set_bind_attrs, set_propagation};
use super::options::MountOptions;
use super::resolve::{create_file, mkdir_all, open_in_root};
use super::{CgroupView, MountKind, MountPlan, Plan, devices, paths};
use crate::error::{SysContext, SysError};
use crate::syscall::{MOUNT_ATTR_RDONLY, MountAttr, mount_setattr};
use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountPropagationFlags, UnmountFlags};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("mounts[{index}] ({dest}): {source}")]
    Mount { index: usize, dest: String, source: SysError },
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
/// config's mounts in order and makes /dev's nodes. Returns an fd on the
/// root of the new tree.
pub fn prepare(plan: &Plan) -> Result<OwnedFd, RootfsError> {
    let root_err = |source| RootfsError::Root { path: plan.rootfs.display().to_string(), source };
    if plan.mount_ns {
        // Nothing mounted from here on may propagate back to the host.
        let private = plan.propagation.is_some_and(|p| p.flag == super::options::propagation_flag("private").unwrap().flag);
        let flags = if private { MountPropagationFlags::PRIVATE } else { MountPropagationFlags::DOWNSTREAM };
        rustix::mount::mount_change("/", flags | MountPropagationFlags::REC).sys("make / rslave", "").map_err(root_err)?;
    }
    // The rootfs bound onto itself: a mount of the container's own, which
    // pivot_root needs, root.readonly may change, and (without a mount
    // namespace) delete detaches with everything on it.
    let root = clone_tree(&plan.rootfs, true).map_err(root_err)?;
    let target = rustix::fs::open(&plan.rootfs, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .sys("open", "")
        .map_err(root_err)?;
    attach(root.as_fd(), target.as_fd()).map_err(root_err)?;
    for m in &plan.mounts {
        mount_one(root.as_fd(), m, plan).map_err(|source| RootfsError::Mount {
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

fn mount_one(root: BorrowedFd, m: &MountPlan, plan: &Plan) -> Result<(), SysError> {
    let o = &m.options;
    if o.remount {
        let target = open_in_root(root, &m.destination, OFlags::empty()).sys("open", m.destination.display())?;
        return set_bind_attrs(target.as_fd(), o);
    }
    match &m.kind {
        MountKind::Bind { source } => {
            let meta = std::fs::metadata(source).sys("bind source", source.display())?;
            let target = if meta.is_dir() {
                mkdir_all(root, &m.destination, 0o755)?
            } else {
                create_file(root, &m.destination, 0o644)?
            };
            let cloned;
            let tree = match &m.prepared {
                Some(t) => t.as_fd(),
                None => {
                    cloned = clone_tree(source, o.recursive_bind)?;
                    cloned.as_fd()
                }
            };
            set_bind_attrs(tree, o)?;
            attach(tree, target.as_fd())?;
            set_propagation(tree, &o.propagation)
        }
        MountKind::Fs { fstype, source } => {
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

/// tmpcopyup: what the rootfs has at the destination is copied into the
/// new tmpfs before it covers it (files, directories and symlinks, with
/// their modes and owners).
fn copy_up(from: BorrowedFd, to: BorrowedFd) -> Result<(), SysError> {
    let fd_path = |fd: BorrowedFd| std::path::PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)));
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
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777)).sys("chmod", dst.display())?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).sys("readlink", src.display())?, &dst).sys("symlink", dst.display())?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).sys("copy", src.display())?;
        } else {
            continue;
        }
        std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid())).sys("chown", dst.display())?;
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
            let vo = MountOptions { attr: o.attr, rec_attr: o.rec_attr, data: v.options.clone(), ..Default::default() };
            new_fs(v.fstype, "cgroup", &vo)
        } else {
            let tree = clone_tree(&v.host_path, false)?;
            set_bind_attrs(tree.as_fd(), o)?;
            Ok(tree)
        }
    };
    if let [v] = plan.cgroup_views.as_slice() {
        if v.name.is_empty() {
            let mnt = view_mount(v)?;
            return attach(mnt.as_fd(), target.as_fd());
        }
    }
    let mut tmpfs_opts = MountOptions { attr: o.attr, ..Default::default() };
    tmpfs_opts.attr.attr_set &= !MOUNT_ATTR_RDONLY;
    tmpfs_opts.data.push(("mode".into(), Some("755".into())));
    let tmpfs = new_fs("tmpfs", "tmpfs", &tmpfs_opts)?;
    attach(tmpfs.as_fd(), target.as_fd())?;
    for v in &plan.cgroup_views {
        rustix::fs::mkdirat(&tmpfs, v.name.as_str(), Mode::from_raw_mode(0o755)).sys("mkdir", &v.name)?;
        let sub = rustix::fs::openat(&tmpfs, v.name.as_str(), OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
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
        let attr = MountAttr { attr_set: MOUNT_ATTR_RDONLY, ..Default::default() };
        mount_setattr(tmpfs.as_fd(), false, &attr).sys("make read-only", m.destination.display())?;
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
        rustix::mount::mount_move(".", "/").sys("move", "rootfs to /")?;
        rustix::process::chroot(".").sys("chroot", "rootfs")?;
    } else {
        rustix::process::pivot_root(".", ".").sys("pivot_root", "rootfs")?;
        // The old root is now on top of "."; keep its unmount from
        // propagating to the host, then drop it.
        rustix::mount::mount_change(".", MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC)
            .sys("make old root rslave", "")?;
        rustix::mount::unmount(".", UnmountFlags::DETACH).sys("detach", "old root")?;
    }
    rustix::process::chdir("/").sys("chdir", "/")
}

/// After pivot_root: rootfs propagation, sysctls, read-only and masked paths.
pub fn finish(plan: &Plan, proc: BorrowedFd) -> Result<OwnedFd, SysError> {
    let root = rustix::fs::open("/", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).sys("open", "/")?;
    if let Some(p) = plan.propagation {
        if plan.mount_ns {
            let attr = MountAttr { propagation: p.flag, ..Default::default() };
            mount_setattr(root.as_fd(), p.recursive, &attr).sys("set rootfsPropagation on", "/")?;
        }
    }
    paths::write_sysctls(proc, &plan.sysctl)?;
    paths::readonly_paths(root.as_fd(), &plan.readonly_paths)?;
    paths::mask_paths(root.as_fd(), &plan.masked)?;
    Ok(root)
}

/// The mount id of whatever is mounted at `path` now.
pub fn mount_id(path: &Path) -> Option<u64> {
    rustix::fs::statx(rustix::fs::CWD, path, rustix::fs::AtFlags::empty(), rustix::fs::StatxFlags::MNT_ID)
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

/// root.readonly: "/" itself read-only, the mounts on it as they are.
pub fn readonly_root(root: BorrowedFd) -> Result<(), SysError> {
    let attr = MountAttr { attr_set: MOUNT_ATTR_RDONLY, ..Default::default() };
    mount_setattr(root, false, &attr).sys("make read-only", "/")
}

