//! The container's root filesystem: the rootfs bound onto itself, the
//! config's mounts in order, devices, pivot_root, then masked and read-only
//! paths. Every path inside the rootfs is resolved by `resolve`, every
//! mount made by `mount`, both by file descriptor.

mod devices;
mod mount;
mod options;
mod paths;
mod resolve;
mod rootfs;

pub use devices::Device;
pub use mount::{attach, clone_fd};
pub use options::{MountOptions, Propagation, propagation_flag};
pub use resolve::{mkdir_all, open_in_root};
pub use rootfs::{detach_from_host, finish, mount_id, pivot, prepare, private_proc, readonly_root};

use crate::config::ConfigError;
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub enum MountKind {
    /// A bind of a host file or directory (source resolved against the bundle).
    Bind { source: PathBuf },
    /// A new filesystem: proc, sysfs, tmpfs, devpts, mqueue, overlay, ...
    Fs { fstype: String, source: String },
    /// runc's `cgroup` mount: a read-only view of the container's cgroups.
    Cgroup,
}

#[derive(Debug, Clone)]
pub struct MountPlan {
    /// The index in config.json's `mounts`, for error messages.
    pub index: usize,
    pub destination: PathBuf,
    pub kind: MountKind,
    pub options: MountOptions,
}

/// One hierarchy as a `cgroup` mount shows it inside the container.
#[derive(Debug, Clone)]
pub struct CgroupView {
    /// The directory under the mount: "cpu", "systemd", "unified"; empty
    /// when cgroup2 is the only hierarchy and is mounted at the destination.
    pub name: String,
    /// The container's own cgroup directory in that hierarchy, on the host.
    pub host_path: PathBuf,
    /// "cgroup" or "cgroup2", and the options a fresh mount of it takes
    /// inside a cgroup namespace (e.g. "cpu", or "none,name=systemd").
    pub fstype: &'static str,
    pub options: Vec<(String, Option<String>)>,
}

/// Everything the container's filesystem needs, worked out from config.json
/// before the container process exists.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub rootfs: PathBuf,
    pub readonly: bool,
    pub propagation: Option<Propagation>,
    pub mounts: Vec<MountPlan>,
    pub devices: Vec<Device>,
    /// Whether berth makes /dev's nodes (no bind mount of /dev in the config).
    pub setup_dev: bool,
    pub masked: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub sysctl: Vec<(String, String)>,
    pub no_pivot: bool,
    /// A new mount namespace: without one, the rootfs is only chroot'ed.
    pub mount_ns: bool,
    /// In a user namespace, device nodes are bound from the host.
    pub userns: bool,
    pub cgroupns: bool,
    pub cgroup_views: Vec<CgroupView>,
}

impl Plan {
    pub fn from_spec(spec: &Spec, bundle: &Path, no_pivot: bool) -> Result<Plan, ConfigError> {
        let root = spec.root().as_ref().expect("validated");
        let rootfs = bundle.join(root.path());
        let rootfs = std::fs::canonicalize(&rootfs).map_err(|e| {
            ConfigError::invalid("root.path", format!("rootfs {}: {}", rootfs.display(), crate::error::errno_text(&e)))
        })?;
        if !rootfs.is_dir() {
            return Err(ConfigError::invalid("root.path", format!("rootfs {} is not a directory", rootfs.display())));
        }
        let linux = spec.linux().clone().unwrap_or_default();
        let propagation = linux.rootfs_propagation().as_deref().filter(|p| !p.is_empty()).and_then(propagation_flag);
        let mut mounts = Vec::new();
        for (i, m) in spec.mounts().iter().flatten().enumerate() {
            mounts.push(plan_mount(i, m, bundle)?);
        }
        let setup_dev = !mounts
            .iter()
            .any(|m| matches!(m.kind, MountKind::Bind { .. }) && m.destination == Path::new("/dev"));
        let devices = devices::from_spec(&linux)?;
        let has = |t| linux.namespaces().iter().flatten().any(|n| n.typ() == t);
        use oci_spec::runtime::LinuxNamespaceType as T;
        let mut sysctl: Vec<(String, String)> =
            linux.sysctl().iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
        sysctl.sort();
        Ok(Plan {
            rootfs,
            readonly: root.readonly().unwrap_or(false),
            propagation,
            mounts,
            devices,
            setup_dev,
            masked: linux.masked_paths().iter().flatten().map(PathBuf::from).collect(),
            readonly_paths: linux.readonly_paths().iter().flatten().map(PathBuf::from).collect(),
            sysctl,
            no_pivot,
            mount_ns: has(T::Mount),
            userns: has(T::User),
            cgroupns: has(T::Cgroup),
            cgroup_views: Vec::new(),
        })
    }
}

fn plan_mount(i: usize, m: &oci_spec::runtime::Mount, bundle: &Path) -> Result<MountPlan, ConfigError> {
    let options = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
    if options.idmap || options.ridmap {
        return Err(ConfigError::invalid(format!("mounts[{i}].options"), "idmap mounts are not supported by berth yet"));
    }
    if options.tmpcopyup {
        return Err(ConfigError::invalid(format!("mounts[{i}].options"), "tmpcopyup is not supported by berth yet"));
    }
    let fstype = m.typ().as_deref().unwrap_or("");
    let source = m.source().as_ref().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let kind = if fstype == "bind" || options.bind {
        if source.is_empty() {
            return Err(ConfigError::invalid(format!("mounts[{i}].source"), "a bind mount needs a source"));
        }
        MountKind::Bind { source: bundle.join(&source) }
    } else if fstype == "cgroup" {
        MountKind::Cgroup
    } else if fstype.is_empty() || fstype == "none" {
        return Err(ConfigError::invalid(format!("mounts[{i}].type"), "missing: name a filesystem type, or bind"));
    } else {
        MountKind::Fs { fstype: fstype.to_string(), source }
    };
    Ok(MountPlan { index: i, destination: m.destination().clone(), kind, options })
}
