//! The container's root filesystem: the rootfs bound onto itself, the
//! config's mounts in order, devices, pivot_root, then masked and read-only
//! paths. Every path inside the rootfs is resolved by `resolve`, every
//! mount made by `mount`, both by file descriptor.

mod devices;
mod idmap;
mod mount;
mod options;
mod paths;
mod resolve;
mod rootfs;
mod sources;

pub use devices::{Device, bind_console, from_spec as devices_from_spec, reopen_dev_null};
pub use mount::{attach, clone_fd};
pub use options::{KNOWN as KNOWN_OPTIONS, MountOptions, Propagation, propagation_flag};
pub use resolve::{mkdir_all, open_in_root, resolved_in_root};
pub use rootfs::{
    RootfsError, detach_from_host, finish, make_targets, mount_id, pivot, prepare, private_proc,
    readonly_root,
};
pub use sources::open_sources;

use crate::config::ConfigError;
use oci_spec::runtime::Spec;
use std::os::fd::OwnedFd;
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
    /// idmap/ridmap: the mount's own uid and gid map texts, if it has them.
    pub id_maps: Option<(String, String)>,
    /// A detached mount berth made before the clone (an idmapped bind),
    /// which the container process only attaches.
    pub prepared: Option<std::rc::Rc<OwnedFd>>,
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
    /// A /dev filesystem the config wants read-only: mounted read-write for
    /// its nodes, made read-only at the end (recursively for rro).
    pub dev_readonly: Option<bool>,
    pub masked: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub sysctl: Vec<(String, String)>,
    pub no_pivot: bool,
    /// A new mount namespace: without one, the rootfs is only chroot'ed.
    pub mount_ns: bool,
    /// In a user namespace (the config's, or the one berth runs in: the
    /// container layer says), device nodes are bound from the host.
    pub userns: bool,
    pub cgroupns: bool,
    pub cgroup_views: Vec<CgroupView>,
}

impl Plan {
    /// `label` is linux.mountLabel where the host has SELinux (the
    /// container layer asks process's lsm), given as a context= option.
    pub fn from_spec(
        spec: &Spec,
        bundle: &Path,
        no_pivot: bool,
        label: Option<String>,
    ) -> Result<Plan, ConfigError> {
        let root = spec.root().as_ref().expect("validated");
        let rootfs = bundle.join(root.path());
        let rootfs = std::fs::canonicalize(&rootfs).map_err(|e| {
            ConfigError::invalid(
                "root.path",
                format!(
                    "rootfs {}: {}",
                    rootfs.display(),
                    crate::error::errno_text(&e)
                ),
            )
        })?;
        if !rootfs.is_dir() {
            return Err(ConfigError::invalid(
                "root.path",
                format!("rootfs {} is not a directory", rootfs.display()),
            ));
        }
        let linux = spec.linux().clone().unwrap_or_default();
        let propagation = linux
            .rootfs_propagation()
            .as_deref()
            .filter(|p| !p.is_empty())
            .and_then(propagation_flag);
        let mut mounts = Vec::new();
        for (i, m) in spec.mounts().iter().flatten().enumerate() {
            let mut plan = plan_mount(i, m, bundle)?;
            if let (Some(l), MountKind::Fs { .. }) = (&label, &plan.kind) {
                plan.options
                    .data
                    .push(("context".into(), Some(format!("\"{l}\""))));
            }
            mounts.push(plan);
        }
        let dev_readonly = dev_read_write(&mut mounts);
        let setup_dev = !mounts.iter().any(|m| {
            matches!(m.kind, MountKind::Bind { .. }) && m.destination == Path::new("/dev")
        });
        let devices = devices::from_spec(&linux)?;
        let has = |t| linux.namespaces().iter().flatten().any(|n| n.typ() == t);
        use oci_spec::runtime::LinuxNamespaceType as T;
        let mut sysctl: Vec<(String, String)> = linux
            .sysctl()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        sysctl.sort();
        Ok(Plan {
            rootfs,
            readonly: root.readonly().unwrap_or(false),
            propagation,
            mounts,
            devices,
            setup_dev,
            dev_readonly,
            masked: linux
                .masked_paths()
                .iter()
                .flatten()
                .map(PathBuf::from)
                .collect(),
            readonly_paths: linux
                .readonly_paths()
                .iter()
                .flatten()
                .map(PathBuf::from)
                .collect(),
            sysctl,
            no_pivot,
            mount_ns: has(T::Mount),
            userns: has(T::User),
            cgroupns: has(T::Cgroup),
            cgroup_views: Vec::new(),
        })
    }
}

/// Takes read-only off a filesystem mounted at /dev, so that its nodes can be
/// made; says whether it was on, and recursively.
fn dev_read_write(mounts: &mut [MountPlan]) -> Option<bool> {
    let m = mounts
        .iter_mut()
        .find(|m| m.destination == Path::new("/dev") && matches!(m.kind, MountKind::Fs { .. }))?;
    let o = &mut m.options;
    let ro = o
        .readonly()
        .then_some(o.rec_attr.attr_set & crate::syscall::MOUNT_ATTR_RDONLY != 0);
    o.attr.attr_set &= !crate::syscall::MOUNT_ATTR_RDONLY;
    o.rec_attr.attr_set &= !crate::syscall::MOUNT_ATTR_RDONLY;
    ro
}

fn plan_mount(
    i: usize,
    m: &oci_spec::runtime::Mount,
    bundle: &Path,
) -> Result<MountPlan, ConfigError> {
    let options = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
    let fstype = m.typ().as_deref().unwrap_or("");
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kind = if fstype == "bind" || options.bind {
        if source.is_empty() {
            return Err(ConfigError::invalid(
                format!("mounts[{i}].source"),
                "a bind mount needs a source",
            ));
        }
        MountKind::Bind {
            source: bundle.join(&source),
        }
    } else if fstype == "cgroup" {
        MountKind::Cgroup
    } else if fstype.is_empty() || fstype == "none" {
        return Err(ConfigError::invalid(
            format!("mounts[{i}].type"),
            "missing: name a filesystem type, or bind",
        ));
    } else {
        MountKind::Fs {
            fstype: fstype.to_string(),
            source,
        }
    };
    if (options.idmap || options.ridmap) && !matches!(kind, MountKind::Bind { .. }) {
        return Err(ConfigError::invalid(
            format!("mounts[{i}].options"),
            "idmap and ridmap apply to bind mounts only",
        ));
    }
    let id_maps = m.uid_mappings().as_deref().map(|u| {
        (
            crate::config::id_map_text(u),
            crate::config::id_map_text(m.gid_mappings().as_deref().unwrap_or(&[])),
        )
    });
    Ok(MountPlan {
        index: i,
        destination: m.destination().clone(),
        kind,
        options,
        id_maps,
        prepared: None,
    })
}

impl Plan {
    /// Makes the idmapped binds, in berth's own process before the clone.
    /// A mount without maps of its own takes the container's (linux.uidMappings).
    pub fn prepare_idmaps(
        &mut self,
        uid_map: &str,
        gid_map: &str,
    ) -> Result<(), rootfs::RootfsError> {
        let mut namespaces: Vec<((String, String), std::rc::Rc<OwnedFd>)> = Vec::new();
        for m in self
            .mounts
            .iter_mut()
            .filter(|m| m.options.idmap || m.options.ridmap)
        {
            let err = |source| rootfs::RootfsError::Mount {
                index: m.index,
                dest: m.destination.display().to_string(),
                source,
            };
            let maps = m
                .id_maps
                .clone()
                .unwrap_or_else(|| (uid_map.to_string(), gid_map.to_string()));
            if maps.0.is_empty() {
                return Err(err(crate::error::SysError::new(
                    "idmap",
                    "",
                    std::io::Error::other(
                        "needs uidMappings on the mount or a user namespace with mappings",
                    ),
                )));
            }
            let userns = match namespaces.iter().find(|(k, _)| *k == maps) {
                Some((_, fd)) => fd.clone(),
                None => {
                    let fd =
                        std::rc::Rc::new(idmap::userns_with_maps(&maps.0, &maps.1).map_err(err)?);
                    namespaces.push((maps, fd.clone()));
                    fd
                }
            };
            let MountKind::Bind { source } = &m.kind else {
                unreachable!("checked in plan_mount")
            };
            let tree = idmap::idmapped_tree(
                source,
                m.options.recursive_bind || m.options.ridmap,
                &userns,
            )
            .map_err(err)?;
            m.prepared = Some(std::rc::Rc::new(tree));
        }
        Ok(())
    }
}
