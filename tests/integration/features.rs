//! `berth features` lists only what works: each namespace, seccomp action
//! and mount option it lists is used by a real container here. And the
//! process fields of issue 5 (scheduling, affinity, personality, labels).

use crate::common::Bundle;
use serde_json::{Value, json};

fn features() -> Value {
    let b = Bundle::new(&["true"]);
    let out = b.berth(&["features"]);
    out.ok();
    serde_json::from_str(&out.stdout).unwrap()
}

fn list(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn userns(c: &mut Value) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "user");
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
}

#[test]
fn every_listed_namespace_works() {
    let f = features();
    assert_eq!(f["ociVersionMax"], "1.3.0");
    for ns in list(&f["linux"]["namespaces"]) {
        let proc_name = match ns.as_str() {
            "mount" => "mnt",
            "network" => "net",
            n => n,
        };
        let b = Bundle::new(&["readlink", &format!("/proc/self/ns/{proc_name}")]);
        b.config(|c| {
            if ns == "user" {
                userns(c);
            } else {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != ns.as_str());
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": ns}));
            }
        });
        let out = b.run(&b.id(&format!("ns-{ns}")));
        out.ok();
        let host = std::fs::read_link(format!("/proc/self/ns/{proc_name}"))
            .unwrap()
            .display()
            .to_string();
        assert_ne!(out.stdout.trim(), host, "{ns}: a namespace of its own");
    }
}

#[test]
fn every_listed_seccomp_action_works() {
    let f = features();
    for action in list(&f["linux"]["seccomp"]["actions"]) {
        let b =
            Bundle::sh("mkdir /tmp/d 2>&1; echo rc=$?; ls -d /tmp/d 2>/dev/null || echo not-made");
        let sock = b.path.join("agent.sock");
        let _agent = (action == "SCMP_ACT_NOTIFY").then(|| crate::common::notify::agent(&sock));
        b.config(|c| {
            c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
            let default = if action == "SCMP_ACT_ALLOW" { "SCMP_ACT_LOG" } else { "SCMP_ACT_ALLOW" };
            c["linux"]["seccomp"] = json!({"defaultAction": default, "listenerPath": sock, "syscalls": [{"names": ["mkdir", "mkdirat"], "action": action}]});
        });
        let out = b.run(&b.id("action"));
        let want = match action.as_str() {
            "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG" => "rc=0",
            "SCMP_ACT_ERRNO" => "Operation not permitted",
            // The agent answers "done" without making the directory.
            "SCMP_ACT_NOTIFY" => "rc=0\nnot-made",
            // No tracer attached: the kernel fails the call with ENOSYS.
            "SCMP_ACT_TRACE" => "Function not implemented",
            // Killed or trapped (SIGSYS): the shell reports 128+31.
            _ => "rc=159",
        };
        assert!(out.stdout.contains(want), "{action}: {out:?}");
    }
}

/// seccomp's supportedFlags, the one field that depends on the host: the
/// known flags this kernel has (each came with a version of Linux), and
/// each runs in a container whose filter bites.
#[test]
fn every_supported_seccomp_flag_works() {
    let f = features();
    let known = list(&f["linux"]["seccomp"]["knownFlags"]);
    let supported = list(&f["linux"]["seccomp"]["supportedFlags"]);
    let since = |flag: &str| match flag {
        "SECCOMP_FILTER_FLAG_TSYNC" => (3, 17),
        "SECCOMP_FILTER_FLAG_LOG" => (4, 14),
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => (4, 17),
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => (5, 19),
        f => panic!("knownFlags has {f}, which this test does not know"),
    };
    let this_kernel: Vec<String> = known
        .iter()
        .filter(|f| !kernel_older_than(since(f).0, since(f).1))
        .cloned()
        .collect();
    assert_eq!(supported, this_kernel);
    for flag in supported {
        // WAIT_KILLABLE_RECV means something only with a listener: a
        // notify rule, answered by an agent.
        let notify = flag == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV";
        let b =
            Bundle::sh("mkdir /tmp/d 2>&1; echo rc=$?; ls -d /tmp/d 2>/dev/null || echo not-made");
        let sock = b.path.join("agent.sock");
        let _agent = notify.then(|| crate::common::notify::agent(&sock));
        b.config(|c| {
            c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
            let action = if notify { "SCMP_ACT_NOTIFY" } else { "SCMP_ACT_ERRNO" };
            c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": [flag], "listenerPath": sock,
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": action}]});
        });
        let out = b.run(&b.id("flag"));
        out.ok();
        let want = if notify {
            "rc=0\nnot-made"
        } else {
            "Operation not permitted"
        };
        assert!(out.stdout.contains(want), "{flag}: {out:?}");
    }
}

#[test]
fn every_listed_mount_option_works() {
    let f = features();
    for opt in list(&f["mountOptions"]) {
        let point = if opt == "remount" { "/dev" } else { "/mnt/x" };
        let b = Bundle::sh(&format!(
            "grep -q ' {point} ' /proc/self/mountinfo && echo mounted"
        ));
        let src = b.path.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(b.path.join("rootfs/mnt/x")).unwrap();
        b.config(|c| {
            let m = match opt.as_str() {
                "bind" | "rbind" => json!({"destination": "/mnt/x", "type": "bind", "source": src, "options": [opt]}),
                "idmap" | "ridmap" => {
                    userns(c);
                    json!({"destination": "/mnt/x", "type": "bind", "source": src, "options": ["rbind", opt]})
                }
                "remount" => json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["remount", "nosuid"]}),
                _ => json!({"destination": "/mnt/x", "type": "tmpfs", "source": "tmpfs", "options": [opt]}),
            };
            c["mounts"].as_array_mut().unwrap().push(m);
        });
        let out = b.run(&b.id("opt"));
        assert_eq!(out.code, 0, "option {opt}: {out:?}");
        assert!(out.stdout.contains("mounted"), "option {opt}: {out:?}");
    }
}

#[test]
fn scheduling_fields_apply() {
    let b = Bundle::sh(
        "grep Cpus_allowed_list /proc/self/status; ionice; cut -d' ' -f19,41 /proc/self/stat; uname -m",
    );
    b.config(|c| {
        c["process"]["execCPUAffinity"] = json!({"initial": "0-1", "final": "1"});
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
        c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
        c["linux"]["personality"] = json!({"domain": "LINUX32"});
    });
    let out = b.run(&b.id("sched"));
    out.ok();
    let l: Vec<&str> = out.stdout.lines().collect();
    assert!(l[0].ends_with("\t1"), "{}", out.stdout);
    assert_eq!(l[1], "best-effort: prio 6");
    assert_eq!(l[2], "5 3", "nice 5, policy SCHED_BATCH (3)");
    assert_eq!(l[3], "i686", "LINUX32 personality");
}

#[test]
fn labels_as_runc_treats_them_on_this_host() {
    // No SELinux here: a mount label is ignored (runc's mounts would fail
    // on it), a process label refused as runc 1.1.5 refuses it.
    let b = Bundle::new(&["true"]);
    b.config(|c| c["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0".into());
    b.run(&b.id("selinux")).ok();
    if !std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        b.config(|c| c["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0".into());
        let out = b.create(&b.id("selinux-label"));
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(
            out.stderr
                .contains("process.selinuxLabel: SELinux is not enabled on this host"),
            "{}",
            out.stderr
        );
    }
    // AppArmor profiles, on a host with AppArmor and on one without:
    // apparmor.rs.
    // No resctrl: intelRdt is an error naming it.
    let b = Bundle::new(&["true"]);
    b.config(|c| c["linux"]["intelRdt"] = json!({"closID": "berth"}));
    let out = b.create(&b.id("rdt"));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("linux.intelRdt: this host has no resctrl"),
        "{}",
        out.stderr
    );
}

/// runtime-spec 1.3's fields: each listed memoryPolicy mode and flag runs
/// here, read back by get_mempolicy(2) (this host has one node, 0).
/// netDevices runs in netdev.rs; intelRdt cannot run on these hosts (no
/// resctrl): errors.rs has its error.
#[test]
fn runtime_spec_1_3_fields_are_listed_and_run() {
    let f = features();
    assert_eq!(
        f["linux"]["intelRdt"],
        json!({"enabled": true, "schemata": true, "monitoring": true})
    );
    assert_eq!(f["linux"]["netDevices"], json!({"enabled": true}));
    assert_eq!(
        f["potentiallyUnsafeConfigAnnotations"],
        json!(["org.systemd.property."])
    );
    let mp = &f["linux"]["memoryPolicy"];
    for mode in list(&mp["modes"]) {
        let (nodes, number) = match mode.as_str() {
            "MPOL_DEFAULT" => (None, 0),
            "MPOL_PREFERRED" => (Some("0"), 1),
            "MPOL_BIND" => (Some("0"), 2),
            "MPOL_INTERLEAVE" => (Some("0"), 3),
            "MPOL_LOCAL" => (None, 4),
            "MPOL_PREFERRED_MANY" => (Some("0"), 5),
            "MPOL_WEIGHTED_INTERLEAVE" => (Some("0"), 6),
            m => panic!("a mode this test does not know: {m}"),
        };
        let b = crate::mempolicy::with_probe(&["mempolicy"]);
        b.config(|c| {
            c["linux"]["memoryPolicy"] = json!({"mode": mode});
            if let Some(n) = nodes {
                c["linux"]["memoryPolicy"]["nodes"] = n.into();
            }
        });
        let out = b.run(&b.id("mode"));
        // MPOL_WEIGHTED_INTERLEAVE came with Linux 6.9: an older kernel
        // (the v2 guest's 6.1) refuses it, and berth names the field.
        if mode == "MPOL_WEIGHTED_INTERLEAVE" && kernel_older_than(6, 9) {
            assert_eq!(out.code, 1, "{mode}: {out:?}");
            assert!(
                out.stderr.contains(
                    "linux.memoryPolicy (MPOL_WEIGHTED_INTERLEAVE; this kernel may lack the mode)"
                ),
                "{}",
                out.stderr
            );
            continue;
        }
        assert_eq!(out.code, 0, "{mode}: {out:?}");
        assert!(
            out.stdout.starts_with(&format!("mode {number} ")),
            "{mode}: {}",
            out.stdout
        );
    }
    for flag in list(&mp["flags"]) {
        let bit = match flag.as_str() {
            "MPOL_F_NUMA_BALANCING" => 1 << 13,
            "MPOL_F_RELATIVE_NODES" => 1 << 14,
            "MPOL_F_STATIC_NODES" => 1 << 15,
            f => panic!("a flag this test does not know: {f}"),
        };
        let b = crate::mempolicy::with_probe(&["mempolicy"]);
        b.config(|c| {
            c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0", "flags": [flag]})
        });
        let out = b.run(&b.id("flag"));
        assert_eq!(out.code, 0, "{flag}: {out:?}");
        assert_eq!(
            out.stdout,
            format!("mode 2 flags {bit} nodes 1\n"),
            "{flag}"
        );
    }
}

/// Whether the running kernel's version is below major.minor.
fn kernel_older_than(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) < (major, minor)
}
