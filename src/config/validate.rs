//! Checks that need more than one field, or that serde cannot express, each
//! reported with the JSON path it concerns. Host-dependent checks (does the
//! rootfs exist, is that path a namespace) happen when the container is
//! planned, still before anything is created.

use super::{ConfigError, Findings};
use oci_spec::runtime::{Hook, LinuxDeviceType, LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::Path;

type F<'a> = &'a mut Findings;

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

/// Every problem of the parsed config, in the order create used to stop
/// at them. `strict` adds warnings for what berth accepts leniently.
pub fn collect(spec: &Spec, strict: bool, f: F) {
    root(spec, f);
    process(spec, f);
    mounts(spec, f);
    linux(spec, strict, f);
    hooks(spec, f);
    super::limits::collect(spec, f);
}

pub fn validate(spec: &Spec) -> Result<(), ConfigError> {
    let mut f = Findings::default();
    collect(spec, false, &mut f);
    f.first_error()
}

fn absolute(f: F, path: &str, p: &Path, what: &str) {
    if !p.is_absolute() {
        f.error(
            "path.relative",
            path,
            format!("{what} must be an absolute path, got \"{}\"", p.display()),
        );
    }
}

fn root(spec: &Spec, f: F) {
    match spec.root() {
        None => f.error(
            "root.missing",
            "root",
            "missing: a container needs a root filesystem",
        ),
        Some(r) if r.path().as_os_str().is_empty() => {
            f.error("root.empty", "root.path", "must not be empty")
        }
        Some(_) => {}
    }
}

fn process(spec: &Spec, f: F) {
    let Some(p) = spec.process() else {
        return f.error(
            "process.missing",
            "process",
            "missing: a container needs a process to run",
        );
    };
    match p.args() {
        Some(a) if !a.is_empty() && !a[0].is_empty() => {}
        _ => f.error(
            "process.args",
            "process.args",
            "must name the program to run",
        ),
    }
    absolute(f, "process.cwd", p.cwd(), "the working directory");
    for (i, e) in p.env().iter().flatten().enumerate() {
        if !e.contains('=') {
            f.error(
                "env.format",
                format!("process.env[{i}]"),
                format!("\"{e}\" is not of the form KEY=value"),
            );
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        if !seen.insert(format!("{:?}", r.typ())) {
            f.error(
                "rlimit.duplicate",
                format!("process.rlimits[{i}].type"),
                format!("{:?} listed twice", r.typ()),
            );
        }
        if r.soft() > r.hard() {
            f.error(
                "rlimit.order",
                format!("process.rlimits[{i}]"),
                format!("soft limit {} is above hard limit {}", r.soft(), r.hard()),
            );
        }
    }
    if let Some(adj) = p.oom_score_adj()
        && !(-1000..=1000).contains(&adj)
    {
        f.error(
            "oom-score-adj.range",
            "process.oomScoreAdj",
            format!("{adj} is outside -1000..1000"),
        );
    }
}

fn mounts(spec: &Spec, f: F) {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        absolute(
            f,
            &format!("mounts[{i}].destination"),
            m.destination(),
            "a mount destination",
        );
        if m.uid_mappings().is_some() != m.gid_mappings().is_some() {
            f.error(
                "mount.mappings",
                format!("mounts[{i}]"),
                "uidMappings and gidMappings go together",
            );
        }
    }
}

fn has_ns(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
}

fn linux(spec: &Spec, strict: bool, f: F) {
    let Some(linux) = spec.linux() else {
        return;
    };
    namespaces(spec, linux, f);
    for (name, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if value.as_ref().is_some_and(|h| !h.is_empty()) && !has_ns(spec, LinuxNamespaceType::Uts) {
            f.error(
                "namespace.uts-needed",
                name,
                format!("setting the {name} needs a uts namespace"),
            );
        }
    }
    if let Some(offsets) = linux.time_offsets() {
        if !has_ns(spec, LinuxNamespaceType::Time) {
            f.error(
                "namespace.time-needed",
                "linux.timeOffsets",
                "time offsets need a time namespace",
            );
        }
        for k in offsets.keys() {
            if k != "monotonic" && k != "boottime" {
                f.error(
                    "time-offset.clock",
                    format!("linux.timeOffsets.{k}"),
                    "only the monotonic and boottime clocks have offsets",
                );
            }
        }
    }
    if let Some(p) = linux.rootfs_propagation()
        && !p.is_empty()
        && !PROPAGATIONS.contains(&p.as_str())
    {
        f.error(
            "propagation.unknown",
            "linux.rootfsPropagation",
            format!("unknown propagation \"{p}\""),
        );
    }
    for (list, name) in [
        (linux.masked_paths(), "maskedPaths"),
        (linux.readonly_paths(), "readonlyPaths"),
    ] {
        for (i, p) in list.iter().flatten().enumerate() {
            absolute(f, &format!("linux.{name}[{i}]"), Path::new(p), "a path");
        }
    }
    devices(linux, strict, f);
    for key in linux.sysctl().iter().flat_map(|m| m.keys()) {
        sysctl(spec, key, f);
    }
}

fn namespaces(spec: &Spec, linux: &oci_spec::runtime::Linux, f: F) {
    let mut seen = HashSet::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            f.error(
                "namespace.duplicate",
                format!("linux.namespaces[{i}].type"),
                format!("namespace type \"{}\" listed twice", ns_name(ns.typ())),
            );
        }
        if let Some(p) = ns.path() {
            absolute(
                f,
                &format!("linux.namespaces[{i}].path"),
                p,
                "a namespace path",
            );
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
        f.error(
            "userns.missing",
            "linux.uidMappings",
            "mappings are set but there is no user namespace",
        );
    }
    if new_userns {
        if linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
            f.error(
                "userns.no-mappings",
                "linux.uidMappings",
                "a new user namespace needs uid mappings",
            );
        }
        if linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
            f.error(
                "userns.no-mappings",
                "linux.gidMappings",
                "a new user namespace needs gid mappings",
            );
        }
    }
}

fn devices(linux: &oci_spec::runtime::Linux, strict: bool, f: F) {
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        absolute(
            f,
            &format!("linux.devices[{i}].path"),
            d.path(),
            "a device path",
        );
        if d.typ() == LinuxDeviceType::A {
            f.error(
                "device.type",
                format!("linux.devices[{i}].type"),
                "must be one of c, b, u, p",
            );
        }
    }
    let Some(res) = linux.resources() else { return };
    for (i, d) in res.devices().iter().flatten().enumerate() {
        if matches!(d.typ(), Some(LinuxDeviceType::U) | Some(LinuxDeviceType::P)) {
            f.error(
                "device-rule.type",
                format!("linux.resources.devices[{i}].type"),
                "must be one of a, c, b",
            );
        }
        // Access letters beyond r, w and m: the cgroup manager's to judge
        // (runc drops them on v1 and refuses them on v2); lenient, so a
        // warning of --strict.
        if let Some(a) = d.access()
            && strict
            && a.chars().any(|c| !"rwm".contains(c))
        {
            f.warn(
                "device-rule.access",
                format!("linux.resources.devices[{i}].access"),
                format!(
                    "\"{a}\" has letters beyond r, w and m: cgroup v1 ignores them, cgroup v2 refuses them"
                ),
            );
        }
    }
}

/// A sysctl may only be set where it belongs to a namespace the container
/// has of its own; anything else would change the host (runc's rule).
fn sysctl(spec: &Spec, key: &str, f: F) {
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
        return f.error(
            "sysctl.host",
            format!("linux.sysctl.{key}"),
            "not in a namespace of the container: it would change the host",
        );
    };
    if !has_ns(spec, needs) {
        f.error(
            "sysctl.namespace",
            format!("linux.sysctl.{key}"),
            format!("needs a {} namespace", ns_name(needs)),
        );
    }
}

/// The hook lists by their JSON names.
#[allow(deprecated)]
pub fn hook_lists(h: &oci_spec::runtime::Hooks) -> [(&'static str, &Option<Vec<Hook>>); 6] {
    [
        ("prestart", h.prestart()),
        ("createRuntime", h.create_runtime()),
        ("createContainer", h.create_container()),
        ("startContainer", h.start_container()),
        ("poststart", h.poststart()),
        ("poststop", h.poststop()),
    ]
}

fn hooks(spec: &Spec, f: F) {
    let Some(h) = spec.hooks() else { return };
    for (name, list) in hook_lists(h) {
        for (i, hook) in list.iter().flatten().enumerate() {
            absolute(
                f,
                &format!("hooks.{name}[{i}].path"),
                hook.path(),
                "a hook path",
            );
            if hook.timeout().is_some_and(|t| t <= 0) {
                f.error(
                    "hook.timeout",
                    format!("hooks.{name}[{i}].timeout"),
                    "must be greater than zero",
                );
            }
        }
    }
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

    /// Letters beyond r, w and m are the cgroup manager's to judge; a
    /// warning of --strict.
    #[test]
    fn device_rule_access_is_left_to_the_cgroup_manager() {
        let extra = r#","linux":{"resources":{"devices":[{"allow":false,"access":"rwx"}]}}"#;
        check(extra).unwrap();
        let json = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},"process":{{"cwd":"/","args":["sh"],"user":{{"uid":0,"gid":0}}}}{extra}}}"#
        );
        assert_eq!(
            findings(&json, true),
            [(
                "device-rule.access",
                "linux.resources.devices[0].access".into()
            )]
        );
    }

    #[test]
    fn missing_process_args() {
        let e = check_raw(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","user":{"uid":0,"gid":0}}}"#,
        );
        assert_eq!(e, "config.json: process.args: must name the program to run");
    }

    fn findings(json: &str, strict: bool) -> Vec<(&'static str, String)> {
        let mut f = Findings::default();
        super::super::check(json.as_bytes(), strict, &mut f);
        f.0.into_iter().map(|x| (x.code, x.path)).collect()
    }

    /// Every problem at once, each at its path; create's error is the first.
    #[test]
    fn collects_every_problem() {
        let json = r#"{"root":{"path":"rootfs"},"hostname":"x","process":{"cwd":"rel","args":["sh\u0000x"],"env":["NOEQ"],"user":{"uid":4294967295,"gid":0}},"mounts":[{"destination":"tmp"}],"linux":{"namespaces":[{"type":"pid"},{"type":"pid"}],"sysctl":{"vm.swappiness":"1"}}}"#;
        let got = findings(json, false);
        let want = [
            ("process.cwd", "path.relative"),
            ("process.env[0]", "env.format"),
            ("mounts[0].destination", "path.relative"),
            ("linux.namespaces[1].type", "namespace.duplicate"),
            ("hostname", "namespace.uts-needed"),
            ("linux.sysctl.vm.swappiness", "sysctl.host"),
            ("ociVersion", "oci-version.missing"),
            ("process.args[0]", "string.nul"),
            ("process.user.uid", "id.none"),
        ];
        for (path, code) in want {
            assert!(
                got.iter().any(|(c, p)| *c == code && p == path),
                "{code} at {path} missing from {got:?}"
            );
        }
        assert_eq!(got.len(), want.len(), "{got:?}");
        let spec = parse(json.as_bytes()).unwrap();
        assert_eq!(
            validate(&spec).unwrap_err().to_string(),
            r#"config.json: process.cwd: the working directory must be an absolute path, got "rel""#
        );
    }

    #[test]
    fn kernel_limits() {
        let long = "a".repeat(65);
        let e = check(&format!(
            r#","hostname":"{long}","linux":{{"namespaces":[{{"type":"uts"}}]}}"#
        ))
        .unwrap_err();
        assert_eq!(
            e,
            "config.json: hostname: 65 bytes: the kernel takes at most 64"
        );
        let name = "n".repeat(256);
        let e = check(&format!(r#","mounts":[{{"destination":"/{name}"}}]"#)).unwrap_err();
        assert!(
            e.contains("mounts[0].destination: a name of 256 bytes"),
            "{e}"
        );
        let path = "/d".repeat(2048);
        let e = check(&format!(r#","mounts":[{{"destination":"{path}"}}]"#)).unwrap_err();
        assert!(e.contains("4096 bytes: the kernel takes paths"), "{e}");
    }

    #[test]
    fn oci_versions() {
        let v = |ver: &str| {
            let json = format!(
                r#"{{"ociVersion":"{ver}","root":{{"path":"rootfs"}},"process":{{"cwd":"/","args":["sh"],"user":{{"uid":0,"gid":0}}}}}}"#
            );
            findings(&json, false)
        };
        assert!(v("1.0.2").is_empty());
        assert!(v("1.2.0-rc.1").is_empty());
        assert!(v("1.3.0").is_empty());
        assert_eq!(v("1.4.0"), [("oci-version.newer", "ociVersion".into())]);
        assert_eq!(
            v("2.0.0"),
            [("oci-version.unsupported", "ociVersion".into())]
        );
        assert_eq!(v("one"), [("oci-version.format", "ociVersion".into())]);
    }

    #[test]
    fn one_document_and_strict_fields() {
        let doc = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}}}"#;
        assert_eq!(
            findings(&format!("{doc}\n{doc}"), false),
            [("config.documents", "config.json".into())]
        );
        let typo = doc.replace(r#""cwd""#, r#""cwdir":"/x","cwd""#);
        assert!(findings(&typo, false).is_empty());
        assert_eq!(
            findings(&typo, true),
            [("field.unknown", "process.cwdir".into())]
        );
        assert!(findings(doc, true).is_empty());
    }

    fn check_raw(json: &str) -> String {
        let spec = parse(json.as_bytes()).unwrap();
        validate(&spec).unwrap_err().to_string()
    }
}
