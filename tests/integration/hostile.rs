//! Hostile configs: each is refused with exactly this message, and none
//! makes berth panic (the fuzz target, fuzz/, searches for more).

use serde_json::{Value, json};

fn base() -> Value {
    json!({"ociVersion": "1.2.1", "root": {"path": "rootfs"}, "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}},
           "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}})
}

fn check(v: &Value) -> Result<(), String> {
    berth::container::check_untrusted(v.to_string().as_bytes())
}

#[test]
fn hostile_configs_and_their_errors() {
    let cases: Vec<(Value, &str)> = vec![
        // serde reads a struct from a sequence too: an empty one lacks root.
        (
            json!([]),
            "config.json: root: missing: a container needs a root filesystem",
        ),
        (
            json!({"ociVersion": "1", "root": {"path": "r"}}),
            "config.json: process: missing: a container needs a process to run",
        ),
        (
            {
                let mut v = base();
                v["process"]["args"] = json!([]);
                v
            },
            "config.json: process.args: must name the program to run",
        ),
        (
            {
                let mut v = base();
                v["process"]["args"] = json!([""]);
                v
            },
            "config.json: process.args: must name the program to run",
        ),
        (
            {
                let mut v = base();
                v["process"]["user"]["uid"] = json!(-1);
                v
            },
            "config.json: process.user.uid: invalid value: integer \"-1\", expected u32",
        ),
        (
            {
                let mut v = base();
                v["process"]["user"]["uid"] = json!(4294967296u64);
                v
            },
            "config.json: process.user.uid: invalid value: integer \"4294967296\", expected u32",
        ),
        (
            {
                let mut v = base();
                v["process"]["cwd"] = json!("relative");
                v
            },
            "config.json: process.cwd: the working directory must be an absolute path, got \"relative\"",
        ),
        (
            {
                let mut v = base();
                v["process"]["env"] = json!(["NOEQUALS"]);
                v
            },
            "config.json: process.env[0]: \"NOEQUALS\" is not of the form KEY=value",
        ),
        (
            {
                let mut v = base();
                v["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]);
                v
            },
            "config.json: process.rlimits[0]: soft limit 10 is above hard limit 5",
        ),
        (
            {
                let mut v = base();
                v["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]);
                v
            },
            "config.json: process.rlimits[0].type: unknown rlimit type \"RLIMIT_BOGUS\"",
        ),
        (
            {
                let mut v = base();
                v["process"]["oomScoreAdj"] = json!(5000);
                v
            },
            "config.json: process.oomScoreAdj: 5000 is outside -1000..1000",
        ),
        (
            {
                let mut v = base();
                v["process"]["capabilities"] = json!({"bounding": ["CAP_NOPE"]});
                v
            },
            "config.json: process.capabilities.bounding",
        ),
        (
            {
                let mut v = base();
                v["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 99});
                v
            },
            "config.json: process.ioPriority.priority: 99 is outside 0..7",
        ),
        (
            {
                let mut v = base();
                v["process"]["execCPUAffinity"] = json!({"initial": "9-1"});
                v
            },
            "config.json: process.execCPUAffinity.initial: \"9-1\" is not a cpu list like 0-3,6",
        ),
        (
            {
                let mut v = base();
                v["mounts"] = json!([{"destination": "../../etc", "type": "tmpfs"}]);
                v
            },
            "config.json: mounts[0].destination: a mount destination must be an absolute path, got \"../../etc\"",
        ),
        (
            {
                let mut v = base();
                v["mounts"] = json!([{"type": "tmpfs"}]);
                v
            },
            "config.json: mounts[0]: missing field \"destination\"",
        ),
        (
            {
                let mut v = base();
                v["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "pid"}]);
                v
            },
            "config.json: linux.namespaces[1].type: namespace type \"pid\" listed twice",
        ),
        (
            {
                let mut v = base();
                v["linux"]["namespaces"] = json!([{"type": "PID"}]);
                v
            },
            "config.json: linux.namespaces[0].type: unknown namespace type \"PID\"",
        ),
        (
            {
                let mut v = base();
                v["linux"]["namespaces"] = json!([{"type": "net", "path": "relative"}]);
                v
            },
            "config.json: linux.namespaces[0].type: unknown namespace type \"net\"",
        ),
        (
            {
                let mut v = base();
                v["linux"]["namespaces"] = json!([{"type": "network", "path": "relative"}]);
                v
            },
            "config.json: linux.namespaces[0].path: a namespace path must be an absolute path, got \"relative\"",
        ),
        (
            {
                let mut v = base();
                v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1, "size": 1}]);
                v
            },
            "config.json: linux.uidMappings: mappings are set but there is no user namespace",
        ),
        (
            {
                let mut v = base();
                v["linux"]["sysctl"] = json!({"kernel.core_pattern": "|/evil"});
                v
            },
            "config.json: linux.sysctl.kernel.core_pattern: not in a namespace of the container: it would change the host",
        ),
        (
            {
                let mut v = base();
                v["linux"]["cgroupsPath"] = json!("/a/../../b");
                v
            },
            "config.json: linux.cgroupsPath: \"/a/../../b\" must not contain \"..\"",
        ),
        (
            {
                let mut v = base();
                v["linux"]["devices"] =
                    json!([{"path": "/dev/x", "type": "a", "major": 1, "minor": 1}]);
                v
            },
            "config.json: linux.devices[0].type: must be one of c, b, u, p",
        ),
        (
            {
                let mut v = base();
                v["linux"]["devices"] =
                    json!([{"path": "/dev/x", "type": "c", "major": -1, "minor": 1}]);
                v
            },
            "config.json: linux.devices[0].major: -1 is out of range",
        ),
        (
            {
                let mut v = base();
                v["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_NOPE"});
                v
            },
            "config.json: linux.seccomp.defaultAction: unknown seccomp value \"SCMP_ACT_NOPE\"",
        ),
        (
            {
                let mut v = base();
                v["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]});
                v
            },
            "config.json: linux.seccomp.syscalls[0].args: an argument index must be 0 to 5",
        ),
        (
            {
                let mut v = base();
                v["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_NOTIFY"});
                v
            },
            "config.json: linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action",
        ),
        (
            {
                let mut v = base();
                v["hooks"] = json!({"prestart": [{"path": "rel"}]});
                v
            },
            "config.json: hooks.prestart[0].path: a hook path must be an absolute path, got \"rel\"",
        ),
        (
            {
                let mut v = base();
                v["hooks"] = json!({"poststop": [{"path": "/bin/true", "timeout": 0}]});
                v
            },
            "config.json: hooks.poststop[0].timeout: must be greater than zero",
        ),
    ];
    for (cfg, want) in &cases {
        let got = check(cfg).expect_err(&format!("accepted: {cfg}"));
        assert!(
            got.starts_with(want),
            "for {cfg}\n  got:  {got}\n  want: {want}"
        );
    }
}

#[test]
fn deep_and_huge_inputs_fail_cleanly() {
    // Nesting deep enough to overflow a recursive parser's stack.
    for deep in [
        format!(
            "{{\"unknownField\": {}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
        format!(
            "{{\"hooks\": {{\"prestart\": {}{}}}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
    ] {
        assert!(berth::container::check_untrusted(deep.as_bytes()).is_err());
    }
    let long = format!("{{\"ociVersion\": \"{}\"}}", "x".repeat(10_000_000));
    assert!(berth::container::check_untrusted(long.as_bytes()).is_err());
    for junk in [
        &b"\xff\xfe\x00"[..],
        b"",
        b"null",
        b"{\"ociVersion\": 1e999}",
        b"{\"process\": {\"args\": [\"\\u0000\"]}}",
    ] {
        assert!(berth::container::check_untrusted(junk).is_err(), "{junk:?}");
    }
}
