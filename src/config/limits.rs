//! What the kernel can take, checked before any of it reaches a system
//! call: the spec's version, strings without NUL bytes (a C string ends at
//! the first, so "/bin/sh\0x" would run /bin/sh), lengths within the
//! kernel's limits, and no id the kernel reads as "no id at all".

use super::Findings;
use oci_spec::runtime::Spec;
use serde_json::Value;

/// HOST_NAME_MAX: sethostname and setdomainname refuse longer names.
const HOST_NAME_MAX: usize = 64;
/// PATH_MAX counts the terminating NUL.
const PATH_MAX: usize = 4096;
/// NAME_MAX: one path component.
const NAME_MAX: usize = 255;
/// (uid_t)-1: setresuid, chown and uid_map read it as "leave unchanged".
const NO_ID: u32 = u32::MAX;

pub fn collect(spec: &Spec, f: &mut Findings) {
    version(spec.version(), f);
    if let Ok(v) = serde_json::to_value(spec) {
        nul_bytes(&v, "", f);
    }
    for (name, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if let Some(h) = value
            && h.len() > HOST_NAME_MAX
        {
            f.error(
                "name.too-long",
                name,
                format!(
                    "{} bytes: the kernel takes at most {HOST_NAME_MAX}",
                    h.len()
                ),
            );
        }
    }
    for (path, p) in paths(spec) {
        path_length(&path, &p, f);
    }
    ids(spec, f);
}

/// ociVersion is REQUIRED; berth implements 1.x.
fn version(v: &str, f: &mut Findings) {
    if v.is_empty() {
        return f.error(
            "oci-version.missing",
            "ociVersion",
            "missing: the runtime-spec version the bundle follows is required",
        );
    }
    let mut parts = v.split(['.', '-', '+']);
    let major = parts.next().and_then(|m| m.parse::<u64>().ok());
    let minor = parts.next().and_then(|m| m.parse::<u64>().ok());
    let mut ours = super::SPEC_VERSION
        .split('.')
        .map(|x| x.parse::<u64>().unwrap_or(0));
    let (ours_major, ours_minor) = (ours.next().unwrap_or(1), ours.next().unwrap_or(0));
    match (major, minor) {
        (Some(major), Some(m)) if major == ours_major && m <= ours_minor => {}
        (Some(major), Some(_)) if major == ours_major => f.warn(
            "oci-version.newer",
            "ociVersion",
            format!(
                "\"{v}\" is newer than the runtime-spec {} berth implements: fields it added may be ignored",
                super::SPEC_VERSION
            ),
        ),
        (Some(_), Some(_)) => f.error(
            "oci-version.unsupported",
            "ociVersion",
            format!("\"{v}\": berth implements runtime-spec {ours_major}.x"),
        ),
        _ => f.error(
            "oci-version.format",
            "ociVersion",
            format!("\"{v}\" is not a SemVer version"),
        ),
    }
}

/// Every string of the config (and every map key) with a NUL byte, at its
/// JSON path. Annotations are only ever stored, never passed to a call.
fn nul_bytes(v: &Value, path: &str, f: &mut Findings) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match v {
        Value::String(s) if s.contains('\0') => f.error(
            "string.nul",
            path,
            "contains a NUL byte: the kernel would cut the string there",
        ),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                nul_bytes(x, &format!("{path}[{i}]"), f);
            }
        }
        Value::Object(m) if path != "annotations" => {
            for (k, x) in m {
                if k.contains('\0') {
                    f.error(
                        "string.nul",
                        join(k),
                        "the key contains a NUL byte: the kernel would cut it there",
                    );
                } else {
                    nul_bytes(x, &join(k), f);
                }
            }
        }
        _ => {}
    }
}

/// Every path the config hands to a system call, with its JSON path.
fn paths(spec: &Spec) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    if let Some(r) = spec.root() {
        out.push(("root.path".to_string(), r.path().clone()));
    }
    if let Some(p) = spec.process() {
        out.push(("process.cwd".to_string(), p.cwd().clone()));
        if let Some(a) = p.args().as_ref().and_then(|a| a.first()) {
            out.push(("process.args[0]".to_string(), a.into()));
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        out.push((format!("mounts[{i}].destination"), m.destination().clone()));
        if let Some(s) = m.source() {
            out.push((format!("mounts[{i}].source"), s.clone()));
        }
    }
    if let Some(h) = spec.hooks() {
        for (name, list) in super::validate::hook_lists(h) {
            for (i, hook) in list.iter().flatten().enumerate() {
                out.push((format!("hooks.{name}[{i}].path"), hook.path().clone()));
            }
        }
    }
    let Some(l) = spec.linux() else { return out };
    for (i, n) in l.namespaces().iter().flatten().enumerate() {
        if let Some(p) = n.path() {
            out.push((format!("linux.namespaces[{i}].path"), p.clone()));
        }
    }
    for (i, d) in l.devices().iter().flatten().enumerate() {
        out.push((format!("linux.devices[{i}].path"), d.path().clone()));
    }
    for (list, name) in [
        (l.masked_paths(), "maskedPaths"),
        (l.readonly_paths(), "readonlyPaths"),
    ] {
        for (i, p) in list.iter().flatten().enumerate() {
            out.push((format!("linux.{name}[{i}]"), p.into()));
        }
    }
    out
}

fn path_length(at: &str, p: &std::path::Path, f: &mut Findings) {
    use std::os::unix::ffi::OsStrExt;
    let len = p.as_os_str().len();
    if len >= PATH_MAX {
        return f.error(
            "path.too-long",
            at,
            format!("{len} bytes: the kernel takes paths of at most {PATH_MAX} bytes with the NUL"),
        );
    }
    if let Some(c) = p.iter().find(|c| c.as_bytes().len() > NAME_MAX) {
        f.error(
            "path.name-too-long",
            at,
            format!(
                "a name of {} bytes: the kernel takes at most {NAME_MAX} per name",
                c.as_bytes().len()
            ),
        );
    }
}

fn ids(spec: &Spec, f: &mut Findings) {
    let mut no_id = |at: String, v: u32| {
        if v == NO_ID {
            f.error(
                "id.none",
                at,
                format!("{v} is (uid_t)-1, which the kernel reads as \"no id\" (leave unchanged)"),
            );
        }
    };
    if let Some(p) = spec.process() {
        no_id("process.user.uid".into(), p.user().uid());
        no_id("process.user.gid".into(), p.user().gid());
        for (i, g) in p.user().additional_gids().iter().flatten().enumerate() {
            no_id(format!("process.user.additionalGids[{i}]"), *g);
        }
    }
    let Some(l) = spec.linux() else { return };
    for (name, maps) in [
        ("uidMappings", l.uid_mappings()),
        ("gidMappings", l.gid_mappings()),
    ] {
        for (i, m) in maps.iter().flatten().enumerate() {
            no_id(format!("linux.{name}[{i}].containerID"), m.container_id());
            no_id(format!("linux.{name}[{i}].hostID"), m.host_id());
        }
    }
    for (i, d) in l.devices().iter().flatten().enumerate() {
        if let Some(u) = d.uid() {
            no_id(format!("linux.devices[{i}].uid"), u);
        }
        if let Some(g) = d.gid() {
            no_id(format!("linux.devices[{i}].gid"), g);
        }
    }
}
