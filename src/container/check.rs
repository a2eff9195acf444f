//! What the container layer checks of a config beyond config/'s own
//! validation: whether this berth, on this host, can run what it asks for;
//! and `check_untrusted`, every step berth takes with a config before it
//! touches the host, for the fuzz target and the hostile-config tests.

use crate::config::ConfigError;
use crate::{cgroups, mounts, process, seccomp};
use oci_spec::runtime::Spec;

/// Fields of the runtime-spec berth does not implement yet. Refusing them is
/// honest; ignoring them would run a container without the limit, filter or
/// label its owner asked for.
pub(super) fn unsupported(spec: &Spec) -> Result<(), ConfigError> {
    let no = |path: &str| Err(ConfigError::invalid(path, "not supported by berth yet"));
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if linux.intel_rdt().is_some() {
        return if std::path::Path::new("/sys/fs/resctrl/schemata").exists() {
            no("linux.intelRdt")
        } else {
            Err(ConfigError::invalid(
                "linux.intelRdt",
                "this host has no resctrl filesystem mounted at /sys/fs/resctrl",
            ))
        };
    }
    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return no("linux.netDevices");
    }
    Ok(())
}

/// Everything berth does with a config before it touches the host: parse,
/// validate, and the process, seccomp, mount and cgroup plans. For the
/// fuzz target and the hostile-config tests: the answer is Ok or an error,
/// never a panic.
pub fn check_untrusted(bytes: &[u8]) -> Result<(), String> {
    let spec = crate::config::parse(bytes).map_err(|e| e.to_string())?;
    crate::config::validate(&spec).map_err(|e| e.to_string())?;
    unsupported(&spec).map_err(|e| e.to_string())?;
    process::ProcessPlan::from_spec(&spec, 0).map_err(|e| e.to_string())?;
    if let Some(l) = spec.linux() {
        process::namespaces::Namespaces::from_spec_without_paths(l).map_err(|e| e.to_string())?;
        if let Some(p) = l.memory_policy() {
            process::mempolicy::from_spec(p).map_err(|e| e.to_string())?;
        }
        if let Some(s) = l.seccomp() {
            seccomp::compile(s).map_err(|e| e.to_string())?;
        }
        if let Some(r) = l.resources() {
            cgroups::check_writes(r).map_err(|e| e.to_string())?;
        }
        cgroups::cgroup_path(l.cgroups_path().as_ref().and_then(|p| p.to_str()), "fuzz")
            .map_err(|e| e.to_string())?;
        cgroups::rules_from_spec(Some(l));
        mounts::devices_from_spec(l).map_err(|e| e.to_string())?;
    }
    for m in spec.mounts().iter().flatten() {
        mounts::MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(extra: &str) -> Result<(), String> {
        let json = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},"process":{{"cwd":"/","args":["sh"],"user":{{"uid":0,"gid":0}}}}{extra}}}"#
        );
        let spec = crate::config::parse(json.as_bytes()).map_err(|e| e.to_string())?;
        crate::config::validate(&spec).map_err(|e| e.to_string())?;
        unsupported(&spec).map_err(|e| e.to_string())
    }

    #[test]
    fn unsupported_fields_are_refused() {
        let e = check(r#","linux":{"netDevices":{"eth0":{"name":"ctr0"}}}"#).unwrap_err();
        assert_eq!(
            e,
            "config.json: linux.netDevices: not supported by berth yet"
        );
    }

    /// config/ validates the names, mounts turns them into flags: the two
    /// lists must agree.
    #[test]
    fn every_propagation_config_accepts_has_a_flag() {
        for p in crate::config::PROPAGATIONS {
            assert!(mounts::propagation_flag(p).is_some(), "{p}");
        }
        assert!(mounts::propagation_flag("rshared ").is_none());
    }
}
