//! Checks that need more than one field, or that serde cannot express, each
//! reported with the JSON path it concerns. Host-dependent checks (does the
//! rootfs exist, is that path a namespace) happen when the container is
//! planned, still before anything is created.

use super::ConfigError;
use oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::Path;

type R = Result<(), ConfigError>;

/// The propagations linux.rootfsPropagation and mount options may name
/// (mounts turns each into its flag).
pub const PROPAGATIONS: [&str; 8] = [
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
    "unbindable",
    "runbindable",
];

pub fn validate(spec: &Spec) -> R {
    root(spec)?;
    process(spec)?;
    mounts(spec)?;
    linux(spec)?;
    hooks(spec)?;
    Ok(())
}

fn absolute(path: &str, p: &Path, what: &str) -> R {
    if p.is_absolute() {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            path,
            format!("{what} must be an absolute path, got \"{}\"", p.display()),
        ))
    }
}

fn root(spec: &Spec) -> R {
    match spec.root() {
        None => Err(ConfigError::invalid(
            "root",
            "missing: a container needs a root filesystem",
        )),
        Some(r) if r.path().as_os_str().is_empty() => {
            Err(ConfigError::invalid("root.path", "must not be empty"))
        }
        Some(_) => Ok(()),
    }
}

fn process(spec: &Spec) -> R {
    let Some(p) = spec.process() else {
        return Err(ConfigError::invalid(
            "process",
            "missing: a container needs a process to run",
        ));
    };
    match p.args() {
        Some(a) if !a.is_empty() && !a[0].is_empty() => {}
        _ => {
            return Err(ConfigError::invalid(
                "process.args",
                "must name the program to run",
            ));
        }
    }
    absolute("process.cwd", p.cwd(), "the working directory")?;
    for (i, e) in p.env().iter().flatten().enumerate() {
        if !e.contains('=') {
            return Err(ConfigError::invalid(
                format!("process.env[{i}]"),
                format!("\"{e}\" is not of the form KEY=value"),
            ));
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        if !seen.insert(format!("{:?}", r.typ())) {
            return Err(ConfigError::invalid(
                format!("process.rlimits[{i}].type"),
                format!("{:?} listed twice", r.typ()),
            ));
        }
        if r.soft() > r.hard() {
            return Err(ConfigError::invalid(
                format!("process.rlimits[{i}]"),
                format!("soft limit {} is above hard limit {}", r.soft(), r.hard()),
            ));
        }
    }
    if let Some(adj) = p.oom_score_adj()
        && !(-1000..=1000).contains(&adj)
    {
        return Err(ConfigError::invalid(
            "process.oomScoreAdj",
            format!("{adj} is outside -1000..1000"),
        ));
    }
    Ok(())
}

fn mounts(spec: &Spec) -> R {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        absolute(
            &format!("mounts[{i}].destination"),
            m.destination(),
            "a mount destination",
        )?;
        if m.uid_mappings().is_some() != m.gid_mappings().is_some() {
            return Err(ConfigError::invalid(
                format!("mounts[{i}]"),
                "uidMappings and gidMappings go together",
            ));
        }
    }
    Ok(())
}

fn has_ns(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
}

fn linux(spec: &Spec) -> R {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let mut seen = HashSet::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(ConfigError::invalid(
                format!("linux.namespaces[{i}].type"),
                format!("namespace type \"{}\" listed twice", ns_name(ns.typ())),
            ));
        }
        if let Some(p) = ns.path() {
            absolute(
                &format!("linux.namespaces[{i}].path"),
                p,
                "a namespace path",
            )?;
        }
    }
    let userns = has_ns(spec, LinuxNamespaceType::User);
    let new_userns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if maps && !userns {
        return Err(ConfigError::invalid(
            "linux.uidMappings",
            "mappings are set but there is no user namespace",
        ));
    }
    if new_userns {
        if linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
            return Err(ConfigError::invalid(
                "linux.uidMappings",
                "a new user namespace needs uid mappings",
            ));
        }
        if linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
            return Err(ConfigError::invalid(
                "linux.gidMappings",
                "a new user namespace needs gid mappings",
            ));
        }
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        && !has_ns(spec, LinuxNamespaceType::Uts)
    {
        return Err(ConfigError::invalid(
            "hostname",
            "setting the hostname needs a uts namespace",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty())
        && !has_ns(spec, LinuxNamespaceType::Uts)
    {
        return Err(ConfigError::invalid(
            "domainname",
            "setting the domainname needs a uts namespace",
        ));
    }
    if let Some(offsets) = linux.time_offsets() {
        if !has_ns(spec, LinuxNamespaceType::Time) {
            return Err(ConfigError::invalid(
                "linux.timeOffsets",
                "time offsets need a time namespace",
            ));
        }
        for k in offsets.keys() {
            if k != "monotonic" && k != "boottime" {
                return Err(ConfigError::invalid(
                    format!("linux.timeOffsets.{k}"),
                    "only the monotonic and boottime clocks have offsets",
                ));
            }
        }
    }
    if let Some(p) = linux.rootfs_propagation()
        && !p.is_empty()
        && !PROPAGATIONS.contains(&p.as_str())
    {
        return Err(ConfigError::invalid(
            "linux.rootfsPropagation",
            format!("unknown propagation \"{p}\""),
        ));
    }
    for (list, name) in [
        (linux.masked_paths(), "maskedPaths"),
        (linux.readonly_paths(), "readonlyPaths"),
    ] {
        for (i, p) in list.iter().flatten().enumerate() {
            absolute(&format!("linux.{name}[{i}]"), Path::new(p), "a path")?;
        }
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        absolute(
            &format!("linux.devices[{i}].path"),
            d.path(),
            "a device path",
        )?;
        if d.typ() == LinuxDeviceType::A {
            return Err(ConfigError::invalid(
                format!("linux.devices[{i}].type"),
                "must be one of c, b, u, p",
            ));
        }
    }
    if let Some(res) = linux.resources() {
        for (i, d) in res.devices().iter().flatten().enumerate() {
            // Access letters beyond r, w and m: the cgroup manager's to
            // judge (runc drops them on v1 and refuses them on v2).
            if matches!(d.typ(), Some(LinuxDeviceType::U) | Some(LinuxDeviceType::P)) {
                return Err(ConfigError::invalid(
                    format!("linux.resources.devices[{i}].type"),
                    "must be one of a, c, b",
                ));
            }
        }
    }
    for key in linux.sysctl().iter().flat_map(|m| m.keys()) {
        sysctl(spec, key)?;
    }
    Ok(())
}

/// A sysctl may only be set where it belongs to a namespace the container
/// has of its own; anything else would change the host (runc's rule).
fn sysctl(spec: &Spec, key: &str) -> R {
    use LinuxNamespaceType as T;
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let needs = if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        T::Ipc
    } else if key.starts_with("net.") {
        T::Network
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        T::Uts
    } else {
        return Err(ConfigError::invalid(
            format!("linux.sysctl.{key}"),
            "not in a namespace of the container: it would change the host",
        ));
    };
    if !has_ns(spec, needs) {
        return Err(ConfigError::invalid(
            format!("linux.sysctl.{key}"),
            format!("needs a {} namespace", ns_name(needs)),
        ));
    }
    Ok(())
}

fn hooks(spec: &Spec) -> R {
    let Some(h) = spec.hooks() else { return Ok(()) };
    #[allow(deprecated)]
    let lists = [
        ("prestart", h.prestart()),
        ("createRuntime", h.create_runtime()),
        ("createContainer", h.create_container()),
        ("startContainer", h.start_container()),
        ("poststart", h.poststart()),
        ("poststop", h.poststop()),
    ];
    for (name, list) in lists {
        for (i, hook) in list.iter().flatten().enumerate() {
            absolute(
                &format!("hooks.{name}[{i}].path"),
                hook.path(),
                "a hook path",
            )?;
            if hook.timeout().is_some_and(|t| t <= 0) {
                return Err(ConfigError::invalid(
                    format!("hooks.{name}[{i}].timeout"),
                    "must be greater than zero",
                ));
            }
        }
    }
    Ok(())
}

pub fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn check(extra: &str) -> Result<(), String> {
        let json = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},"process":{{"cwd":"/","args":["sh"],"user":{{"uid":0,"gid":0}}}}{extra}}}"#
        );
        let spec = parse(json.as_bytes()).map_err(|e| e.to_string())?;
        validate(&spec).map_err(|e| e.to_string())
    }

    #[test]
    fn minimal_config_is_valid() {
        check("").unwrap();
    }

    #[test]
    fn relative_mount_destination() {
        let e = check(r#","mounts":[{"destination":"/proc","type":"proc"},{"destination":"tmp","type":"tmpfs"}]"#).unwrap_err();
        assert_eq!(
            e,
            r#"config.json: mounts[1].destination: a mount destination must be an absolute path, got "tmp""#
        );
    }

    #[test]
    fn namespace_twice() {
        let e = check(r#","linux":{"namespaces":[{"type":"pid"},{"type":"pid"}]}"#).unwrap_err();
        assert_eq!(
            e,
            r#"config.json: linux.namespaces[1].type: namespace type "pid" listed twice"#
        );
    }

    #[test]
    fn userns_without_mappings() {
        let e = check(r#","linux":{"namespaces":[{"type":"user"}]}"#).unwrap_err();
        assert_eq!(
            e,
            "config.json: linux.uidMappings: a new user namespace needs uid mappings"
        );
    }

    #[test]
    fn hostname_needs_uts() {
        let e = check(r#","hostname":"x","linux":{"namespaces":[{"type":"pid"}]}"#).unwrap_err();
        assert_eq!(
            e,
            "config.json: hostname: setting the hostname needs a uts namespace"
        );
    }

    #[test]
    fn sysctl_outside_namespace() {
        let e = check(r#","linux":{"sysctl":{"vm.swappiness":"10"}}"#).unwrap_err();
        assert!(
            e.starts_with("config.json: linux.sysctl.vm.swappiness: not in a namespace"),
            "{e}"
        );
        let e = check(r#","linux":{"sysctl":{"net.ipv4.ip_forward":"1"}}"#).unwrap_err();
        assert_eq!(
            e,
            "config.json: linux.sysctl.net.ipv4.ip_forward: needs a network namespace"
        );
        check(
            r#","linux":{"namespaces":[{"type":"network"}],"sysctl":{"net.ipv4.ip_forward":"1"}}"#,
        )
        .unwrap();
    }

    /// Letters beyond r, w and m are the cgroup manager's to judge.
    #[test]
    fn device_rule_access_is_left_to_the_cgroup_manager() {
        check(r#","linux":{"resources":{"devices":[{"allow":false,"access":"rwx"}]}}"#).unwrap();
    }

    #[test]
    fn missing_process_args() {
        let e = check_raw(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","user":{"uid":0,"gid":0}}}"#,
        );
        assert_eq!(e, "config.json: process.args: must name the program to run");
    }

    fn check_raw(json: &str) -> String {
        let spec = parse(json.as_bytes()).unwrap();
        validate(&spec).unwrap_err().to_string()
    }
}
