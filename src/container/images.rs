//! What checkpoint and restore share: their common flags checked before
//! CRIU runs, the image and work directories, CRIU's version, the mounts
//! and namespaces that are external to a checkpoint (the config's bind
//! mounts, a network namespace joined by path), and descriptors.json, the
//! container process's stdio at checkpoint (runc's file, in the image
//! directory), whose pipes restore hands over again.

use super::ContainerError;
use crate::criu::{self, CgMode, CriuError};
use crate::error::{SysContext, SysError};
use crate::mounts::{self, MountKind};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The bound on each wait for CRIU's next answer. A dump writes the
/// container's memory at about the speed of the disk under --image-path
/// and a restore reads it back: 10 minutes is tens of GB on a slow disk,
/// and over 100 times what a small container's dump takes under TCG
/// (about 5 s). runc and podman have no bound; this one is only there so
/// that a criu that never answers (stuck on a filesystem, stopped by a
/// signal) cannot hang berth and its caller forever.
pub const CRIU_BOUND: (&str, Duration) = ("BERTH_CRIU_TIMEOUT", Duration::from_secs(600));

/// runc's file of the container process's fds 0, 1 and 2.
pub const DESCRIPTORS: &str = "descriptors.json";
/// CRIU's key for a network namespace the container joined by path.
const EXT_NETNS: &str = "extRootNetNS";

/// The flags both commands take, as given.
#[derive(Debug, Default, Clone)]
pub struct CriuFlags {
    pub criu: PathBuf,
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub auto_dedup: bool,
    pub manage_cgroups_mode: Option<String>,
    pub empty_ns: Vec<String>,
    pub lazy_pages: bool,
}

impl CriuFlags {
    /// The options every request carries, once the flags are checked.
    pub fn opts(&self) -> Result<criu::Opts, ContainerError> {
        let mode = match &self.manage_cgroups_mode {
            None => None,
            Some(m) => Some(CgMode::parse(m).ok_or_else(|| {
                usage(format!(
                    "--manage-cgroups-mode {m:?}: one of soft, full, strict, ignore"
                ))
            })?),
        };
        let mut empty_ns = 0;
        for ns in &self.empty_ns {
            match ns.as_str() {
                "network" => empty_ns |= libc::CLONE_NEWNET as u32,
                other => {
                    return Err(usage(format!(
                        "--empty-ns {other:?}: CRIU can leave only the network namespace empty (--empty-ns network)"
                    )));
                }
            }
        }
        Ok(criu::Opts {
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            auto_dedup: self.auto_dedup,
            manage_cgroups_mode: mode,
            empty_ns,
            lazy_pages: self.lazy_pages,
            orphan_pts_master: true,
            ..Default::default()
        })
    }

    /// The criu to run (--criu) with its bound (BERTH_CRIU_TIMEOUT).
    pub fn criu(&self) -> criu::Criu {
        criu::Criu {
            path: self.criu.clone(),
            bound: crate::cgroups::bound(CRIU_BOUND.0, CRIU_BOUND.1),
            bound_var: CRIU_BOUND.0,
        }
    }

    /// CRIU's version (runc's number: 31700 for 3.17.0), checked before
    /// anything is changed.
    pub fn check_version(&self) -> Result<u32, ContainerError> {
        criu::check_version(&self.criu()).map_err(|e| criu_error("", e, None))
    }
}

pub fn usage(msg: String) -> ContainerError {
    ContainerError::Usage(msg)
}

/// A CRIU failure, with where its log is when it wrote one.
pub fn criu_error(id: &str, e: CriuError, log: Option<PathBuf>) -> ContainerError {
    let log = match (&e, log) {
        (
            CriuError::Failed { .. } | CriuError::Protocol(_) | CriuError::Timeout { .. },
            Some(l),
        ) => {
            format!("; CRIU's log: {}", l.display())
        }
        _ => String::new(),
    };
    match id {
        "" => ContainerError::Criu(format!("{e}{log}")),
        id => ContainerError::Criu(format!("container \"{id}\": {e}{log}")),
    }
}

/// A directory opened for CRIU (made first when `make`).
pub fn open_dir(flag: &'static str, path: &Path, make: bool) -> Result<OwnedFd, ContainerError> {
    if make {
        std::fs::create_dir_all(path).sys(flag, path.display())?;
    }
    match std::fs::File::open(path) {
        Ok(f) if f.metadata().is_ok_and(|m| m.is_dir()) => Ok(f.into()),
        Ok(_) => Err(usage(format!("{flag} {}: not a directory", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(usage(format!(
            "{flag} {}: no such directory",
            path.display()
        ))),
        Err(e) => Err(SysError::new("open", path.display(), e).into()),
    }
}

/// Mounts CRIU must not dump, by their place in the container: the
/// config's binds (a host file or directory is not the container's to
/// save), the `cgroup` mount on cgroup v2 (`cgroup2`: the container's own
/// cgroup directory; CRIU 3.17 finds no root mount for a cgroup2 mount made
/// in a cgroup namespace, and the restored container's cgroup is another
/// directory) and, in a user namespace, the device nodes berth binds from
/// the host. With the source each is bound from again on restore.
pub fn external_mounts(
    spec: &Spec,
    bundle: &Path,
    cgroup2: Option<&Path>,
) -> Result<Vec<(String, String)>, ContainerError> {
    let plan = mounts::Plan::from_spec(spec, bundle, false, None)?;
    let mut out: Vec<(String, String)> = plan
        .mounts
        .iter()
        .filter_map(|m| {
            let source = match &m.kind {
                MountKind::Bind { source } => source.as_path(),
                MountKind::Cgroup => cgroup2?,
                MountKind::Fs { .. } => return None,
            };
            // Where the mount is: a destination through a symlink of the
            // rootfs is mounted where that leads (runc resolves it so too).
            let dest = mounts::resolved_in_root(&plan.rootfs, &m.destination)
                .unwrap_or_else(|| m.destination.clone());
            Some((dest.display().to_string(), source.display().to_string()))
        })
        .collect();
    if plan.userns {
        for d in &plan.devices {
            let p = d.path.display().to_string();
            out.push((p.clone(), p));
        }
    }
    Ok(out)
}

/// runc's annotation naming the container's own CRIU configuration file
/// (empty: none at all).
const CRIU_CONFIG_ANNOTATION: &str = "org.criu.config";
/// The file CRIU reads without the annotation: runc's, so that a host's
/// CRIU settings for its runtime hold for berth in runc's place too.
const CRIU_CONFIG_DEFAULT: &str = "/etc/criu/runc.conf";

/// The CRIU configuration file of a dump or restore of this container, as
/// runc picks it.
pub fn criu_config_file(spec: &Spec) -> Option<String> {
    let annotation = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(CRIU_CONFIG_ANNOTATION));
    match annotation {
        Some(f) if f.is_empty() => None,
        Some(f) => Some(f.clone()),
        None => Some(CRIU_CONFIG_DEFAULT.into()),
    }
}

/// The network namespace the config joins by path, if any, and its file.
pub fn joined_netns(spec: &Spec) -> Option<PathBuf> {
    spec.linux()
        .as_ref()?
        .namespaces()
        .as_ref()?
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Network)?
        .path()
        .clone()
}

/// At checkpoint: the joined network namespace is external, by inode.
pub fn external_netns(path: &Path) -> Result<String, ContainerError> {
    let st = rustix::fs::stat(path).sys("stat network namespace", path.display())?;
    Ok(format!("net[{}]:{EXT_NETNS}", st.st_ino))
}

/// At restore: the same path, opened, for CRIU to put the tree in.
pub fn inherit_netns(path: &Path) -> Result<(String, OwnedFd), ContainerError> {
    let f = std::fs::File::open(path).sys("open network namespace", path.display())?;
    Ok((EXT_NETNS.to_string(), f.into()))
}

/// The container process's fds 0-2 as /proc shows them, into the images.
pub fn save_descriptors(images: &Path, pid: i32) -> Result<(), ContainerError> {
    let fds: Vec<String> = (0..3)
        .map(|i| {
            std::fs::read_link(format!("/proc/{pid}/fd/{i}"))
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "/dev/null".into())
        })
        .collect();
    let file = images.join(DESCRIPTORS);
    std::fs::write(&file, serde_json::to_vec(&fds).expect("strings"))
        .sys("write", file.display())?;
    Ok(())
}

/// At restore: the stdio pipes of the checkpointed process, each replaced
/// by this berth's own fd of that number (runc's rule: pipes only; files
/// and terminals are the image's to restore). Each goes to CRIU as a
/// duplicate: criu's own fds 0-2 are not berth's.
pub fn inherited_stdio(images: &Path) -> Result<Vec<(String, OwnedFd)>, ContainerError> {
    let file = images.join(DESCRIPTORS);
    let fds: Vec<String> = match std::fs::read(&file) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            usage(format!(
                "{}: not a list of descriptors: {e}",
                file.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SysError::new("read", file.display(), e).into()),
    };
    let mut out = Vec::new();
    for (i, key) in stdio_pipes(fds) {
        // SAFETY: fd i of this process, borrowed only to be duplicated.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(i) };
        let dup = rustix::io::fcntl_dupfd_cloexec(fd, 3).sys("duplicate stdio fd", i)?;
        out.push((key, dup));
    }
    Ok(out)
}

/// The pipes among the descriptors, with their fd numbers.
fn stdio_pipes(fds: Vec<String>) -> Vec<(i32, String)> {
    fds.into_iter()
        .take(3)
        .enumerate()
        .filter(|(_, s)| s.starts_with("pipe:"))
        .map(|(i, s)| (i as i32, s))
        .collect()
}

/// The container's own cgroup directory when cgroup v2 is the only
/// hierarchy (what its `cgroup` mount shows).
pub fn cgroup2_dir(views: Vec<crate::cgroups::View>) -> Option<PathBuf> {
    match views.as_slice() {
        [v] if v.name.is_empty() => Some(v.host_path.clone()),
        _ => None,
    }
}

/// The raw number of an fd CRIU inherits.
pub fn raw(fd: &OwnedFd) -> i32 {
    fd.as_raw_fd()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_checked_before_criu_runs() {
        let f = |m: &str, ns: &[&str]| CriuFlags {
            manage_cgroups_mode: Some(m.into()),
            empty_ns: ns.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let o = f("full", &["network"]).opts().unwrap();
        assert_eq!(o.manage_cgroups_mode, Some(CgMode::Full));
        assert_eq!(o.empty_ns, libc::CLONE_NEWNET as u32);
        let e = f("props", &[]).opts().unwrap_err().to_string();
        assert!(e.contains("soft, full, strict"), "{e}");
        let e = f("soft", &["pid"]).opts().unwrap_err().to_string();
        assert!(e.contains("--empty-ns \"pid\""), "{e}");
    }

    #[test]
    fn criu_config_file_as_runc_picks_it() {
        let with = |a: Option<&str>| {
            let mut spec = Spec::default();
            if let Some(a) = a {
                let map = [(CRIU_CONFIG_ANNOTATION.to_string(), a.to_string())];
                spec.set_annotations(Some(map.into_iter().collect()));
            }
            criu_config_file(&spec)
        };
        assert_eq!(with(None).as_deref(), Some("/etc/criu/runc.conf"));
        assert_eq!(with(Some("/srv/c.conf")).as_deref(), Some("/srv/c.conf"));
        assert_eq!(with(Some("")), None);
    }

    #[test]
    fn only_stdio_pipes_are_handed_over() {
        let fds = ["/dev/null", "pipe:[1234]", "/dev/pts/0", "pipe:[9]"];
        assert_eq!(
            stdio_pipes(fds.iter().map(|s| s.to_string()).collect()),
            [(1, "pipe:[1234]".into())]
        );
    }
}
