//! What the container layer checks of a config beyond config/'s own
//! validation: whether this berth, on this host, can run what it asks for
//! (`berth check`, which reports every problem; create's plan refuses on
//! the first); and `check_untrusted`, every step berth takes with a
//! config before it touches the host, for the fuzz target and the
//! hostile-config tests. Nothing here creates anything.

mod ids;

use crate::cgroups::CgroupManager;
use crate::config::{ConfigError, Findings};
use crate::{cgroups, mounts, process, seccomp};
use oci_spec::runtime::{LinuxSeccompAction, Spec};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

pub struct CheckOpts {
    pub bundle: PathBuf,
    /// Also warn of what berth accepts leniently or ignores.
    pub strict: bool,
    /// The config alone, not against this host.
    pub spec_only: bool,
    /// --systemd-cgroup: linux.cgroupsPath is systemd's slice:prefix:name.
    pub systemd: bool,
}

/// Every problem of the bundle, at once: config.json against the
/// runtime-spec (config/), then against this host.
pub fn check(opts: &CheckOpts) -> Findings {
    let mut f = Findings::default();
    let file = opts.bundle.join("config.json");
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) => {
            f.error(
                "config.unreadable",
                file.display().to_string(),
                crate::error::errno_text(&e),
            );
            return f;
        }
    };
    let Some(spec) = crate::config::check(&bytes, opts.strict, &mut f) else {
        return f;
    };
    if !opts.spec_only {
        host(&spec, opts, &mut f);
    }
    plan_steps(&spec, opts, &mut f);
    if !opts.spec_only {
        // Whatever else create's plan would refuse on this host.
        let bundle = std::fs::canonicalize(&opts.bundle).unwrap_or(opts.bundle.clone());
        if let Err(e) =
            super::plan::ContainerPlan::new(&spec, "check", bundle, false, 0, &driver(opts))
        {
            add_once(&mut f, "host.refused", e);
        }
    }
    f
}

/// What create works out from the config before it touches anything, each
/// step's error a finding (those check_untrusted stops at).
fn plan_steps(spec: &Spec, opts: &CheckOpts, f: &mut Findings) {
    let spec_only = opts.spec_only;
    let mut spec_for_process = spec.clone();
    if spec_only && let Some(p) = spec_for_process.process_mut() {
        // Whether AppArmor is on is the host's to say.
        p.set_apparmor_profile(None);
    }
    if let Err(e) = process::ProcessPlan::from_spec(&spec_for_process, 0) {
        add_once(f, "process.invalid", e);
    }
    let Some(l) = spec.linux() else { return };
    if let Err(e) = process::namespaces::Namespaces::from_spec_without_paths(l) {
        add_once(f, "namespace.invalid", e);
    }
    if let Some(p) = l.memory_policy() {
        // The spec's rules; this host's nodes too, unless for another host.
        match process::mempolicy::from_spec(p) {
            Err(e) => add_once(f, "mempolicy.invalid", e),
            Ok(policy) if !spec_only => {
                if let Err(e) = process::mempolicy::check_host(&policy) {
                    add_once(f, "mempolicy.host", e);
                }
            }
            Ok(_) => {}
        }
    }
    if let Some(r) = l.intel_rdt()
        && let Err(e) = super::resctrl::check_fields(r)
    {
        add_once(f, "intelrdt.invalid", e);
    }
    match super::netdev::from_spec(spec) {
        Err(e) => add_once(f, "netdevices.invalid", e),
        Ok(d) if !spec_only => {
            if let Err(e) = super::netdev::check_host(&d, super::rootless::rootless()) {
                add_once(f, "netdevices.host", e);
            }
        }
        Ok(_) => {}
    }
    if let Some(s) = l.seccomp()
        && let Err(e) = seccomp::compile(s)
    {
        add_once(f, "seccomp.invalid", e);
    }
    // Against this host, the manager's own check says it (cgroup()); for
    // another host, what fails on one cgroup version (v1's swappiness on
    // v2) may be right on the other: a warning.
    if spec_only
        && let Some(r) = l.resources()
        && let Err(e) = cgroups::check_writes(r)
    {
        cgroup_error(
            f,
            "resources.cgroup-version",
            e,
            crate::config::Severity::Warning,
        );
    }
    if let Err(e) = cgroup_path(l, opts.systemd) {
        add_once(f, "cgroups-path.invalid", e);
    }
    if let Err(e) = mounts::devices_from_spec(l) {
        add_once(f, "device.invalid", e);
    }
}

/// The driver create would use, short of asking the user's systemd (check
/// talks to no daemon): a rootless --systemd-cgroup is checked as the
/// system's.
fn driver(opts: &CheckOpts) -> cgroups::Driver {
    match opts.systemd {
        true => cgroups::Driver::Systemd,
        false => cgroups::Driver::Fs,
    }
}

/// The container's cgroup as create would name it (id "check").
fn cgroup_path(l: &oci_spec::runtime::Linux, systemd: bool) -> Result<String, ConfigError> {
    let configured = l.cgroups_path().as_ref().and_then(|p| p.to_str());
    if systemd {
        Ok(cgroups::systemd::parse(configured, "check", None)?.cgroup_path())
    } else {
        cgroups::cgroup_path(configured, "check")
    }
}

/// A ConfigError as a finding, unless one is about its path already.
fn add_once(f: &mut Findings, code: &'static str, e: ConfigError) {
    match &e {
        ConfigError::Invalid { path, .. } if f.about(path) => {}
        _ => f.config_error(code, e),
    }
}

fn cgroup_error(
    f: &mut Findings,
    code: &'static str,
    e: cgroups::CgroupError,
    severity: crate::config::Severity,
) {
    let (path, msg) = match e {
        cgroups::CgroupError::Unsupported { path, msg } => (path, msg),
        cgroups::CgroupError::NoController { path, why } => (path, why),
        cgroups::CgroupError::Write { path, source } => (path, source.to_string()),
        other => ("linux.resources".to_string(), other.to_string()),
    };
    if f.about(&path) {
        return;
    }
    match severity {
        crate::config::Severity::Error => f.error(code, path, msg),
        crate::config::Severity::Warning => f.warn(code, path, msg),
    }
}

/// The config against this host.
fn host(spec: &Spec, opts: &CheckOpts, f: &mut Findings) {
    let (bundle, strict) = (opts.bundle.as_path(), opts.strict);
    rootfs_and_program(spec, bundle, f);
    bind_sources(spec, bundle, f);
    hooks(spec, f);
    let Some(l) = spec.linux() else {
        lsm(spec, strict, f);
        return;
    };
    namespace_paths(l, f);
    ids::user_namespace(l, f);
    ids::idmapped_mounts(spec, bundle, l, f);
    cgroup(l, opts.systemd, f);
    if let Some(s) = l.seccomp() {
        seccomp_actions(s, f);
        seccomp_flags(s, f);
    }
    lsm(spec, strict, f);
}

fn rootfs_and_program(spec: &Spec, bundle: &Path, f: &mut Findings) {
    let Some(root) = spec.root() else { return };
    let rootfs = bundle.join(root.path());
    let fd = match rustix::fs::open(
        &rootfs,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            return f.error(
                "rootfs.missing",
                "root.path",
                format!(
                    "rootfs {}: {}",
                    rootfs.display(),
                    crate::error::errno_text(&e.into())
                ),
            );
        }
    };
    let Some(p) = spec.process() else { return };
    let Some(program) = p.args().as_ref().and_then(|a| a.first()) else {
        return;
    };
    if program.is_empty() || program.contains('\0') {
        return;
    }
    let destinations: Vec<&Path> = spec
        .mounts()
        .iter()
        .flatten()
        .map(|m| m.destination().as_path())
        .filter(|d| *d != Path::new("/"))
        .collect();
    let hidden = |p: &Path| destinations.iter().any(|d| p.starts_with(d));
    if program.contains('/') {
        noexec_mount(spec, &p.cwd().join(program), f);
    }
    let env = p.env().clone().unwrap_or_default();
    super::program::check(fd.as_fd(), program, p.cwd(), &env, &hidden, f);
}

/// A program under a mount of the config's whose options end in noexec.
fn noexec_mount(spec: &Spec, program: &Path, f: &mut Findings) {
    let over = spec
        .mounts()
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, m)| program.starts_with(m.destination()))
        .max_by_key(|(_, m)| m.destination().components().count());
    let Some((i, m)) = over else { return };
    let last = m
        .options()
        .iter()
        .flatten()
        .rev()
        .find(|o| *o == "exec" || *o == "noexec");
    if last.is_some_and(|o| o == "noexec") {
        f.error(
            "program.noexec",
            "process.args[0]",
            format!(
                "{} is under mounts[{i}] ({}), mounted noexec: permission denied",
                program.display(),
                m.destination().display()
            ),
        );
    }
}

fn is_bind(m: &oci_spec::runtime::Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

fn bind_sources(spec: &Spec, bundle: &Path, f: &mut Findings) {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let Some(src) = m.source() else { continue };
        if !is_bind(m) {
            continue;
        }
        let path = bundle.join(src);
        if let Err(e) = std::fs::metadata(&path) {
            f.error(
                "mount.source-missing",
                format!("mounts[{i}].source"),
                format!(
                    "bind source {}: {}",
                    path.display(),
                    crate::error::errno_text(&e)
                ),
            );
        }
    }
}

fn hooks(spec: &Spec, f: &mut Findings) {
    use std::os::unix::fs::PermissionsExt;
    let Some(h) = spec.hooks() else { return };
    for (name, list) in crate::config::hook_lists(h) {
        for (i, hook) in list.iter().flatten().enumerate() {
            let at = format!("hooks.{name}[{i}].path");
            let p = hook.path();
            match std::fs::metadata(p) {
                Err(e) => f.error(
                    "hook.missing",
                    at,
                    format!("{}: {}", p.display(), crate::error::errno_text(&e)),
                ),
                Ok(m) if m.is_dir() => f.error(
                    "hook.not-executable",
                    at,
                    format!("{} is a directory", p.display()),
                ),
                Ok(m) if m.permissions().mode() & 0o111 == 0 => f.error(
                    "hook.not-executable",
                    at,
                    format!(
                        "{} is not executable (mode {:o})",
                        p.display(),
                        m.permissions().mode() & 0o7777
                    ),
                ),
                Ok(_) => {}
            }
        }
    }
}

fn namespace_paths(l: &oci_spec::runtime::Linux, f: &mut Findings) {
    for (i, n) in l.namespaces().iter().flatten().enumerate() {
        let Some(p) = n.path() else { continue };
        let at = format!("linux.namespaces[{i}].path");
        let fd = match rustix::fs::open(
            p,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(e) => {
                f.error(
                    if e == rustix::io::Errno::NOENT {
                        "namespace.path-missing"
                    } else {
                        "namespace.path-unreadable"
                    },
                    at,
                    format!("{}: {}", p.display(), crate::error::errno_text(&e.into())),
                );
                continue;
            }
        };
        let want = crate::config::ns_name(n.typ());
        match crate::syscall::ns_type(fd.as_fd()) {
            Ok(t) if t == process::namespaces::flag(n.typ()) => {}
            Ok(t) => f.error(
                "namespace.wrong-type",
                at,
                format!(
                    "{} is a {}, not a {want} namespace",
                    p.display(),
                    process::namespaces::ns_label(t)
                ),
            ),
            Err(_) => f.error(
                "namespace.not-namespace",
                at,
                format!(
                    "{} is not a namespace file (not a {want} namespace)",
                    p.display()
                ),
            ),
        }
    }
}

/// Each resource's controller and file, on the container's cgroup as it
/// would be: the container's own if it exists, else its nearest existing
/// parent (a new cgroup has its parent's files). Only the root cgroup is
/// left, whose files differ from a child's: its answers are warnings.
fn cgroup(l: &oci_spec::runtime::Linux, systemd: bool, f: &mut Findings) {
    let Ok(path) = cgroup_path(l, systemd) else {
        return;
    };
    let rules = cgroups::rules_from_spec(Some(l));
    let resources = l.resources().clone().unwrap_or_default();
    let mut probe = Path::new(&path);
    loop {
        let Ok(m) = cgroups::manager(&probe.to_string_lossy()) else {
            return;
        };
        let root = probe.parent().is_none();
        if root || m.views().iter().all(|v| v.host_path.is_dir()) {
            // The manager stops at its first problem: one call per part.
            for (part, rules) in resource_parts(&resources, &rules) {
                if let Err(e) = m.check(&part, rules) {
                    // Where only the root could be looked at, a missing
                    // file may yet be in the container's cgroup; a missing
                    // controller is missing everywhere.
                    let nowhere = matches!(e, cgroups::CgroupError::NoController { .. });
                    if root && !nowhere {
                        cgroup_error(f, "cgroup.unverified", e, crate::config::Severity::Warning);
                    } else {
                        cgroup_error(f, "cgroup.unsupported", e, crate::config::Severity::Error);
                    }
                }
            }
            return;
        }
        probe = probe.parent().unwrap_or(Path::new("/"));
    }
}

/// linux.resources cut into its parts (the device rules alone, then each
/// controller's fields alone), each checked on its own.
fn resource_parts<'r>(
    r: &oci_spec::runtime::LinuxResources,
    rules: &'r [cgroups::DeviceRule],
) -> Vec<(oci_spec::runtime::LinuxResources, &'r [cgroups::DeviceRule])> {
    use oci_spec::runtime::LinuxResources as R;
    let one = |set: &dyn Fn(&mut R)| {
        let mut part = R::default();
        set(&mut part);
        part
    };
    let mut parts = vec![(R::default(), rules)];
    let each: [&dyn Fn(&mut R); 8] = [
        &|p| _ = p.set_memory(*r.memory()),
        &|p| _ = p.set_cpu(r.cpu().clone()),
        &|p| _ = p.set_pids(*r.pids()),
        &|p| _ = p.set_block_io(r.block_io().clone()),
        &|p| _ = p.set_hugepage_limits(r.hugepage_limits().clone()),
        &|p| _ = p.set_network(r.network().clone()),
        &|p| _ = p.set_rdma(r.rdma().clone()),
        &|p| _ = p.set_unified(r.unified().clone()),
    ];
    for set in each {
        let part = one(set);
        if part != R::default() {
            parts.push((part, &[]));
        }
    }
    parts
}

/// The kernel's name (/proc/sys/kernel/seccomp/actions_avail) of an action.
fn action_name(a: LinuxSeccompAction) -> &'static str {
    use LinuxSeccompAction as A;
    match a {
        A::ScmpActKill | A::ScmpActKillThread => "kill_thread",
        A::ScmpActKillProcess => "kill_process",
        A::ScmpActTrap => "trap",
        A::ScmpActErrno => "errno",
        A::ScmpActNotify => "user_notif",
        A::ScmpActTrace => "trace",
        A::ScmpActLog => "log",
        A::ScmpActAllow => "allow",
    }
}

fn seccomp_actions(s: &oci_spec::runtime::LinuxSeccomp, f: &mut Findings) {
    let Ok(avail) = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail") else {
        return;
    };
    let avail: Vec<&str> = avail.split_whitespace().collect();
    let mut one = |at: String, a: LinuxSeccompAction| {
        let name = action_name(a);
        if !avail.contains(&name) {
            f.error(
                "seccomp.action",
                at,
                format!(
                    "this kernel has no seccomp action {name} (it has {})",
                    avail.join(" ")
                ),
            );
        }
    };
    one("linux.seccomp.defaultAction".into(), s.default_action());
    for (i, r) in s.syscalls().iter().flatten().enumerate() {
        one(format!("linux.seccomp.syscalls[{i}].action"), r.action());
    }
}

/// Each of linux.seccomp.flags, asked of the kernel as features' list is.
fn seccomp_flags(s: &oci_spec::runtime::LinuxSeccomp, f: &mut Findings) {
    for (i, flag) in s.flags().iter().flatten().enumerate() {
        if !crate::syscall::seccomp_flags_supported(seccomp::flag_bits(flag)) {
            f.error(
                "seccomp.flag",
                format!("linux.seccomp.flags[{i}]"),
                format!("this kernel does not take the seccomp flag {flag}"),
            );
        }
    }
}

/// A profile or process label where the host lacks that LSM (create
/// refuses both, as runc does); linux.mountLabel, which berth ignores
/// where SELinux is off, is --strict's warning.
fn lsm(spec: &Spec, strict: bool, f: &mut Findings) {
    let p = spec.process().as_ref();
    // create's own checks (process::lsm), each reported once.
    let checks = [
        (
            "apparmor.off",
            process::lsm::apparmor(p.and_then(|p| p.apparmor_profile().as_deref())),
        ),
        (
            "selinux.off",
            process::lsm::selinux(p.and_then(|p| p.selinux_label().as_deref())),
        ),
    ];
    for (code, checked) in checks {
        if let Err(crate::config::ConfigError::Invalid { path, msg }) = checked
            && !f.about(&path)
        {
            f.error(code, path, msg);
        }
    }
    if process::lsm::selinux_enabled() {
        return;
    }
    let mount_label = spec.linux().as_ref().and_then(|l| l.mount_label().clone());
    if let Some(l) = mount_label.filter(|l| strict && !l.is_empty()) {
        f.warn(
            "selinux.off",
            "linux.mountLabel",
            format!("SELinux is not enabled on this host: label {l} is ignored"),
        );
    }
}

/// Everything berth does with a config before it touches the host: parse,
/// validate, and the process, seccomp, mount and cgroup plans. For the
/// fuzz target and the hostile-config tests: the answer is Ok or an error,
/// never a panic.
pub fn check_untrusted(bytes: &[u8]) -> Result<(), String> {
    // berth check's collector reads the same text, strictly.
    crate::config::check(bytes, true, &mut Findings::default());
    let spec = crate::config::parse(bytes).map_err(|e| e.to_string())?;
    crate::config::validate(&spec).map_err(|e| e.to_string())?;
    super::netdev::from_spec(&spec).map_err(|e| e.to_string())?;
    if let Some(r) = spec.linux().as_ref().and_then(|l| l.intel_rdt().as_ref()) {
        super::resctrl::check_fields(r).map_err(|e| e.to_string())?;
    }
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
        super::super::netdev::from_spec(&spec)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn net_devices_without_a_network_namespace_are_refused() {
        let e = check(r#","linux":{"netDevices":{"eth0":{"name":"ctr0"}}}"#).unwrap_err();
        assert!(e.starts_with("config.json: linux.netDevices: "), "{e}");
        let json = r#"{"ociVersion":"1.3.0","root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},"linux":{"netDevices":{"eth0":{"name":"ctr0"}}}}"#;
        let e = check_untrusted(json.as_bytes()).unwrap_err();
        assert!(e.starts_with("config.json: linux.netDevices: "), "{e}");
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
