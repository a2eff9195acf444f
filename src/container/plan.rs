//! Everything a container needs, worked out from config.json and the
//! command line before anything exists: whatever can fail here fails with
//! nothing to clean up.

use super::state::{Phase, State};
use crate::cgroups::{self, DeviceRule};
use crate::config::ConfigError;
use crate::mounts;
use crate::process::namespaces::Namespaces;
use crate::process::{ProcessPlan, lsm, mempolicy};
use crate::seccomp;
use crate::syscall::CLONE_NEWPID;
use oci_spec::runtime::{Hooks, LinuxResources, Spec};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

pub struct ContainerPlan {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: mounts::Plan,
    pub process: ProcessPlan,
    pub ns: Namespaces,
    pub uid_map: String,
    pub gid_map: String,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub cgroup_path: String,
    /// With --systemd-cgroup: the scope unit, and the properties of the
    /// config's org.systemd.property.* annotations.
    pub systemd: Option<cgroups::systemd::Unit>,
    pub systemd_properties: Vec<cgroups::systemd::Property>,
    pub device_rules: Vec<DeviceRule>,
    pub resources: LinuxResources,
    pub hooks: Option<Hooks>,
    pub seccomp: Option<seccomp::Program>,
    pub annotations: BTreeMap<String, String>,
    /// linux.netDevices, checked against the host: moved at create.
    pub net_devices: Vec<super::netdev::NetDevice>,
    /// linux.intelRdt against this host's resctrl.
    pub rdt: Option<super::resctrl::Rdt>,
}

impl ContainerPlan {
    /// The compiled filter the container process installs, if any.
    pub fn seccomp_filter(&self) -> Option<&crate::syscall::SeccompFilter> {
        self.seccomp.as_ref().map(|p| &p.filter)
    }

    pub fn new(
        spec: &Spec,
        id: &str,
        bundle: PathBuf,
        no_pivot: bool,
        preserve_fds: u32,
        driver: &cgroups::Driver,
    ) -> Result<Self, ConfigError> {
        let linux = spec.linux().as_ref();
        // linux.mountLabel: a context= option where SELinux is on; ignored
        // elsewhere, as runc ignores it.
        let label = lsm::mount_label(linux.and_then(|l| l.mount_label().as_deref()));
        let mut rootfs = mounts::Plan::from_spec(spec, &bundle, no_pivot, label)?;
        // berth itself in a user namespace (rootless podman runs it as uid
        // 0 of its own) has no mknod and no sysfs of the host's network
        // namespace either: the same binds as for the config's user
        // namespace, as runc decides (RunningInUserNS or NEWUSER).
        rootfs.userns |= super::rootless::in_user_namespace();
        let mut process = ProcessPlan::from_spec(spec, preserve_fds)?;
        process.personality = linux
            .and_then(|l| l.personality().as_ref())
            .map(crate::process::sched::personality)
            .transpose()?;
        process.mempolicy = memory_policy(spec)?;
        let ns = Namespaces::from_spec(linux)?;
        let net_devices = super::netdev::from_spec(spec)?;
        super::netdev::check_host(&net_devices, super::rootless::rootless())?;
        let rdt = super::resctrl::plan(spec, id)?;
        let configured = linux
            .and_then(|l| l.cgroups_path().as_ref())
            .and_then(|p| p.to_str());
        let user = match driver {
            cgroups::Driver::SystemdUser(u) => Some(u),
            _ => None,
        };
        let (cgroup_path, systemd, systemd_properties) = if !matches!(driver, cgroups::Driver::Fs) {
            let unit = cgroups::systemd::parse(configured, id, user)?;
            let props = cgroups::systemd::from_annotations(
                &spec
                    .annotations()
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            )?;
            (unit.cgroup_path(), Some(unit), props)
        } else {
            (cgroup_path(configured, id)?, None, Vec::new())
        };
        Ok(ContainerPlan {
            id: id.to_string(),
            rootfs,
            process,
            uid_map: linux
                .and_then(|l| l.uid_mappings().as_deref())
                .map(crate::config::id_map_text)
                .unwrap_or_default(),
            gid_map: linux
                .and_then(|l| l.gid_mappings().as_deref())
                .map(crate::config::id_map_text)
                .unwrap_or_default(),
            ns,
            hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
            domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
            cgroup_path,
            systemd,
            systemd_properties,
            device_rules: cgroups::rules_from_spec(linux),
            resources: linux
                .and_then(|l| l.resources().clone())
                .unwrap_or_default(),
            hooks: spec.hooks().clone(),
            seccomp: linux
                .and_then(|l| l.seccomp().as_ref())
                .map(seccomp::compile)
                .transpose()?,
            annotations: spec
                .annotations()
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            bundle,
            net_devices,
            rdt,
        })
    }

    /// The state as it is recorded before anything exists (create's, and
    /// restore's before CRIU runs).
    pub fn initial_state(&self, spec: &Spec) -> State {
        let plan = self;
        let linux = spec.linux().as_ref();
        State {
            id: plan.id.clone(),
            pid: 0,
            start_time: 0,
            phase: Phase::Creating,
            bundle: plan.bundle.display().to_string(),
            rootfs: plan.rootfs.rootfs.display().to_string(),
            created: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
            annotations: plan.annotations.clone(),
            cgroup_path: plan.cgroup_path.clone(),
            systemd: plan.systemd.clone(),
            hooks: plan.hooks.clone(),
            pid_ns: plan.pid_ns(),
            host_mounts: if plan.rootfs.mount_ns {
                None
            } else {
                crate::mounts::mount_id(&plan.rootfs.rootfs)
            },
            process: spec.process().clone(),
            seccomp: linux.and_then(|l| l.seccomp().clone()),
            memory_policy: linux.and_then(|l| l.memory_policy().clone()),
            namespaces: plan.ns.proc_names(),
            resctrl: plan.rdt.as_ref().map(|r| r.state()),
        }
    }

    pub fn pid_ns(&self) -> bool {
        self.ns.creates(CLONE_NEWPID)
    }
}

/// Where the container's cgroup goes without systemd: for a rootless
/// berth on cgroup v2, beside its own cgroup as runc's v2 manager places
/// it (where a delegated subtree lets the user make one); else under
/// berth's parent, or where an absolute linux.cgroupsPath says.
fn cgroup_path(configured: Option<&str>, id: &str) -> Result<String, ConfigError> {
    match super::rootless::rootless()
        .then(cgroups::own_unified)
        .flatten()
    {
        Some(own) => cgroups::beside_own(configured, id, &own),
        None => cgroups::cgroup_path(configured, id),
    }
}

/// linux.memoryPolicy, checked against the spec's rules and this host's
/// nodes; exec takes it from the state, which keeps the config's field.
pub fn memory_policy(spec: &Spec) -> Result<Option<mempolicy::MemPolicy>, ConfigError> {
    let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    else {
        return Ok(None);
    };
    let policy = mempolicy::from_spec(p)?;
    mempolicy::check_host(&policy)?;
    Ok(Some(policy))
}
