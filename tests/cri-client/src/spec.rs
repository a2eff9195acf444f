//! What the tests say of a pod, a container and its resources, in JSON with
//! every field optional, turned into the CRI requests kubelet would send.
//! The CRI's own messages need every field in JSON (prost's serde derive
//! has no defaults), hence these small shapes of our own.

use k8s_cri::v1 as cri;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Pod {
    pub name: String,
    pub uid: String,
    pub namespace: String,
    pub hostname: String,
    pub log_directory: String,
    /// cgroupfs syntax: the pod's parent, made by the caller as kubelet does.
    pub cgroup_parent: String,
    pub labels: HashMap<String, String>,
    /// Needed for any privileged container of the pod.
    pub privileged: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub working_dir: String,
    pub env: HashMap<String, String>,
    pub stdin: bool,
    pub stdin_once: bool,
    pub tty: bool,
    /// Relative to the pod's log_directory.
    pub log_path: String,
    pub mounts: Vec<Mount>,
    pub resources: Option<Resources>,
    pub security: Security,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Mount {
    pub host_path: String,
    pub container_path: String,
    pub readonly: bool,
    /// "private" (the default), "host_to_container" or "bidirectional".
    pub propagation: String,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Resources {
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpu_shares: i64,
    pub memory_limit_in_bytes: i64,
    pub cpuset_cpus: String,
    pub pids_limit: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Security {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub readonly_rootfs: bool,
    pub no_new_privs: bool,
    /// "runtime_default", "unconfined" or unset (then the CRI's field is
    /// not sent at all: containerd runs the container unconfined).
    pub seccomp: Option<String>,
    pub drop_capabilities: Vec<String>,
    pub add_capabilities: Vec<String>,
    pub privileged: bool,
    /// The pod's pid namespace instead of one of its own (kubelet's
    /// shareProcessNamespace).
    pub share_pid: bool,
}

/// What kubelet asks by default: the pod's network and IPC, a pid
/// namespace per container unless the pod shares one.
fn namespaces(share_pid: bool) -> cri::NamespaceOption {
    let pid = if share_pid {
        cri::NamespaceMode::Pod
    } else {
        cri::NamespaceMode::Container
    };
    cri::NamespaceOption {
        network: cri::NamespaceMode::Pod as i32,
        pid: pid as i32,
        ipc: cri::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

pub fn parse<T: for<'de> Deserialize<'de>>(what: &str, json: &str) -> Result<T, String> {
    serde_json::from_str(json).map_err(|e| format!("{what}: {e}: {json}"))
}

pub fn pod_config(p: &Pod) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: p.name.clone(),
            uid: p.uid.clone(),
            namespace: p.namespace.clone(),
            attempt: 0,
        }),
        hostname: p.hostname.clone(),
        log_directory: p.log_directory.clone(),
        labels: p.labels.clone(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: p.cgroup_parent.clone(),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                privileged: p.privileged,
                namespace_options: Some(namespaces(false)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn container_config(c: &Container) -> Result<cri::ContainerConfig, String> {
    let mounts = c.mounts.iter().map(mount).collect::<Result<_, _>>()?;
    Ok(cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: c.name.clone(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: c.image.clone(),
            ..Default::default()
        }),
        command: c.command.clone(),
        args: c.args.clone(),
        working_dir: c.working_dir.clone(),
        envs: c
            .env
            .iter()
            .map(|(k, v)| cri::KeyValue {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
        mounts,
        log_path: c.log_path.clone(),
        stdin: c.stdin,
        stdin_once: c.stdin_once,
        tty: c.tty,
        linux: Some(cri::LinuxContainerConfig {
            resources: c.resources.as_ref().map(resources),
            security_context: Some(security(&c.security)?),
        }),
        ..Default::default()
    })
}

fn mount(m: &Mount) -> Result<cri::Mount, String> {
    let propagation = match m.propagation.as_str() {
        "" | "private" => cri::MountPropagation::PropagationPrivate,
        "host_to_container" => cri::MountPropagation::PropagationHostToContainer,
        "bidirectional" => cri::MountPropagation::PropagationBidirectional,
        other => return Err(format!("mount {}: propagation {other:?}", m.container_path)),
    };
    Ok(cri::Mount {
        container_path: m.container_path.clone(),
        host_path: m.host_path.clone(),
        readonly: m.readonly,
        propagation: propagation as i32,
        ..Default::default()
    })
}

pub fn resources(r: &Resources) -> cri::LinuxContainerResources {
    let mut unified = HashMap::new();
    if let Some(n) = r.pids_limit {
        unified.insert("pids.max".to_string(), n.to_string());
    }
    cri::LinuxContainerResources {
        cpu_period: r.cpu_period,
        cpu_quota: r.cpu_quota,
        cpu_shares: r.cpu_shares,
        memory_limit_in_bytes: r.memory_limit_in_bytes,
        cpuset_cpus: r.cpuset_cpus.clone(),
        unified,
        ..Default::default()
    }
}

fn security(s: &Security) -> Result<cri::LinuxContainerSecurityContext, String> {
    use cri::security_profile::ProfileType;
    let seccomp = match s.seccomp.as_deref() {
        None => None,
        Some("runtime_default") => Some(ProfileType::RuntimeDefault),
        Some("unconfined") => Some(ProfileType::Unconfined),
        Some(other) => return Err(format!("security.seccomp {other:?}")),
    };
    Ok(cri::LinuxContainerSecurityContext {
        capabilities: Some(cri::Capability {
            add_capabilities: s.add_capabilities.clone(),
            drop_capabilities: s.drop_capabilities.clone(),
            ..Default::default()
        }),
        privileged: s.privileged,
        namespace_options: Some(namespaces(s.share_pid)),
        run_as_user: s.run_as_user.map(|value| cri::Int64Value { value }),
        run_as_group: s.run_as_group.map(|value| cri::Int64Value { value }),
        readonly_rootfs: s.readonly_rootfs,
        no_new_privs: s.no_new_privs,
        seccomp: seccomp.map(|t| cri::SecurityProfile {
            profile_type: t as i32,
            localhost_ref: String::new(),
        }),
        ..Default::default()
    })
}
