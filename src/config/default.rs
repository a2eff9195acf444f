//! The config.json `berth spec` writes: runc's default, so that a bundle
//! made for one runs unchanged on the other.

use serde_json::{Value, json};

/// `cgroupns`: add a cgroup namespace, as runc's spec does on a host whose
/// only hierarchy is cgroup v2 (where the container's /sys/fs/cgroup then
/// shows its own cgroup as the root); on v1 runc's has none.
pub fn default_spec(rootless: bool, uid: u32, gid: u32, cgroupns: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut spec = json!({
        "ociVersion": super::SPEC_VERSION,
        "process": {
            "terminal": true,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": { "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "berth",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
        ],
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" }
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if cgroupns && let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
        ns.push(json!({ "type": "cgroup" }));
    }
    if rootless {
        make_rootless(&mut spec, uid, gid);
    }
    spec
}

/// runc's `spec --rootless`: a user namespace mapping the caller to root,
/// no network namespace (sysfs is then bound from the host), no cgroup
/// limits (the cgroup mount stays, as in runc's), and no devpts gid the
/// caller may not own.
fn make_rootless(spec: &mut Value, uid: u32, gid: u32) {
    let linux = &mut spec["linux"];
    // runc's order: the default's namespaces less network, then user.
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network" && n["type"] != "user");
        ns.push(json!({ "type": "user" }));
    }
    linux["uidMappings"] = json!([{ "containerID": 0, "hostID": uid, "size": 1 }]);
    linux["gidMappings"] = json!([{ "containerID": 0, "hostID": gid, "size": 1 }]);
    if let Some(o) = linux.as_object_mut() {
        o.remove("resources");
    }
    let Some(mounts) = spec["mounts"].as_array_mut() else {
        return;
    };
    for m in mounts.iter_mut() {
        if m["destination"] == "/sys" {
            *m = json!({ "destination": "/sys", "type": "none", "source": "/sys",
                         "options": ["rbind", "nosuid", "noexec", "nodev", "ro"] });
        }
        if m["destination"] == "/dev/pts"
            && let Some(opts) = m["options"].as_array_mut()
        {
            opts.retain(|o| o != "gid=5");
        }
    }
}

/// The keys of runc's config.json in the order runc writes them (its
/// structs' field order, which one ranking happens to fit for every object
/// of the default config); keys not listed go last, in their own order.
const RUNC_KEY_ORDER: &[&str] = &[
    "ociVersion",
    "process",
    "root",
    "hostname",
    "mounts",
    "hooks",
    "annotations",
    "linux",
    "terminal",
    "consoleSize",
    "user",
    "args",
    "commandLine",
    "env",
    "cwd",
    "capabilities",
    "rlimits",
    "noNewPrivileges",
    "apparmorProfile",
    "oomScoreAdj",
    "selinuxLabel",
    "uid",
    "gid",
    "umask",
    "additionalGids",
    "username",
    "bounding",
    "effective",
    "inheritable",
    "permitted",
    "ambient",
    "uidMappings",
    "gidMappings",
    "sysctl",
    "resources",
    "cgroupsPath",
    "namespaces",
    "devices",
    "seccomp",
    "rootfsPropagation",
    "maskedPaths",
    "readonlyPaths",
    "mountLabel",
    "intelRdt",
    "personality",
    "containerID",
    "hostID",
    "size",
    "allow",
    "destination",
    "type",
    "source",
    "options",
    "hard",
    "soft",
    "major",
    "minor",
    "access",
    "path",
    "readonly",
];

/// A JSON value written with its keys in runc's order.
struct RuncOrder<'a>(&'a Value);

impl serde::Serialize for RuncOrder<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(m) => {
                let rank = |k: &str| {
                    RUNC_KEY_ORDER
                        .iter()
                        .position(|o| *o == k)
                        .unwrap_or(usize::MAX)
                };
                let mut entries: Vec<_> = m.iter().collect();
                entries.sort_by_key(|(k, _)| rank(k));
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, &RuncOrder(v))?;
                }
                map.end()
            }
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&RuncOrder(v))?;
                }
                seq.end()
            }
            v => v.serialize(s),
        }
    }
}

/// config.json as runc's `spec` writes it: its key order, tab-indented, so
/// that the two can be compared line by line.
pub fn spec_text(spec: &Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b"\t"),
    );
    serde::Serialize::serialize(&RuncOrder(spec), &mut ser).expect("a Value serialises");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_text_in_runc_order() {
        let text = spec_text(&default_spec(false, 0, 0, false));
        assert!(text.starts_with("{\n\t\"ociVersion\": "), "{text}");
        let at = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
        assert!(
            at("process") < at("root") && at("root") < at("hostname") && at("mounts") < at("linux")
        );
        assert!(at("destination") < at("source") && at("terminal") < at("user"));
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            default_spec(false, 0, 0, false)
        );
    }

    #[test]
    fn default_spec_parses_and_validates() {
        let text = default_spec(false, 0, 0, false).to_string();
        let spec = crate::config::parse(text.as_bytes()).unwrap();
        super::super::validate::validate(&spec).unwrap();
    }

    #[test]
    fn rootless_spec_maps_the_caller() {
        let v = default_spec(true, 1000, 1001, false);
        assert_eq!(v["linux"]["uidMappings"][0]["hostID"], 1000);
        assert_eq!(v["linux"]["gidMappings"][0]["hostID"], 1001);
        let spec = crate::config::parse(v.to_string().as_bytes()).unwrap();
        super::super::validate::validate(&spec).unwrap();
    }

    #[test]
    fn a_v2_host_adds_the_cgroup_namespace_rootless_keeps_it() {
        let types = |v: &Value| -> Vec<String> {
            v["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["type"].to_string())
                .collect()
        };
        let v = default_spec(false, 0, 0, true);
        assert_eq!(
            types(&v),
            [
                "\"pid\"",
                "\"network\"",
                "\"ipc\"",
                "\"uts\"",
                "\"mount\"",
                "\"cgroup\""
            ]
        );
        let v = default_spec(true, 1000, 1000, true);
        assert_eq!(
            types(&v),
            [
                "\"pid\"",
                "\"ipc\"",
                "\"uts\"",
                "\"mount\"",
                "\"cgroup\"",
                "\"user\""
            ]
        );
        assert!(!types(&default_spec(false, 0, 0, false)).contains(&"\"cgroup\"".to_string()));
    }
}
