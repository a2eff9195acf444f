//! Each namespace type, created or joined, seen from inside.

use crate::common::Bundle;
use serde_json::json;

fn ns_inode(pid: &str, t: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{t}"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn pid_one_in_a_new_pid_namespace_with_its_own_hostname() {
    let b = Bundle::sh(
        "echo pid=$$; hostname; for t in pid net ipc uts mnt; do readlink /proc/self/ns/$t; done",
    );
    b.config(|c| c["hostname"] = "box-1".into());
    let out = b.run(&b.id("pid1"));
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "pid=1");
    assert_eq!(lines[1], "box-1");
    for (line, t) in lines[2..].iter().zip(["pid", "net", "ipc", "uts", "mnt"]) {
        assert_ne!(*line, ns_inode("self", t), "{t} namespace is new");
    }
}

#[test]
fn without_a_namespace_the_host_one_is_kept() {
    let b = Bundle::sh("readlink /proc/self/ns/net; readlink /proc/self/ns/ipc");
    b.config(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network" && n["type"] != "ipc");
    });
    let out = b.run(&b.id("hostns"));
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], ns_inode("self", "net"));
    assert_eq!(lines[1], ns_inode("self", "ipc"));
}

#[test]
fn user_namespace_maps_ids() {
    let b = Bundle::sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /");
    b.config(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        // sysfs needs a network namespace owned by the user namespace: it has one.
    });
    let out = b.run(&b.id("userns"));
    out.ok();
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(
        &words[..6],
        ["0", "100000", "65536", "0", "100000", "65536"]
    );
    assert_eq!(words[6], "0", "root inside");
    // The rootfs belongs to host root, which is unmapped: nobody inside.
    assert_eq!(words[7], "65534");
}

#[test]
fn cgroup_namespace_root_is_the_container_cgroup() {
    let b = Bundle::sh("cat /proc/self/cgroup");
    b.config(crate::common::own_cgroupns);
    let out = b.run(&b.id("cgns"));
    out.ok();
    for line in out.stdout.lines() {
        assert!(
            line.ends_with(":/"),
            "every hierarchy shows / inside: {line}"
        );
    }
}

#[test]
fn time_namespace_offsets() {
    let b = Bundle::sh("cat /proc/uptime; readlink /proc/self/ns/time");
    b.config(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] =
            json!({"boottime": {"secs": 86400 * 365}, "monotonic": {"secs": 1000}});
    });
    let out = b.run(&b.id("timens"));
    out.ok();
    let up: f64 = out
        .stdout
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        up > host + 86400.0 * 364.0,
        "boottime offset applies: {up} vs {host}"
    );
    assert_ne!(out.stdout.lines().nth(1).unwrap(), ns_inode("self", "time"));
}

#[test]
fn join_a_namespace_by_path() {
    // A first container's network and uts namespaces, joined by a second.
    let first = Bundle::new(&["sleep", "1000"]);
    first.config(|c| c["hostname"] = "joined".into());
    let id1 = first.id("ns-owner");
    first.run_detached(&id1);
    let pid = first.state(&id1)["pid"].as_i64().unwrap().to_string();

    let b = Bundle::sh("hostname; readlink /proc/self/ns/net; echo $$");
    b.config(|c| {
        c["hostname"] = serde_json::Value::Null;
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        for n in ns.iter_mut() {
            if n["type"] == "network" {
                n["path"] = format!("/proc/{pid}/ns/net").into();
            }
            if n["type"] == "uts" {
                n["path"] = format!("/proc/{pid}/ns/uts").into();
            }
        }
    });
    let out = b.run(&b.id("ns-joiner"));
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "joined");
    assert_eq!(lines[1], ns_inode(&pid, "net"));
    assert_eq!(
        lines[2], "1",
        "still pid 1 in its own pid namespace, after a second fork"
    );
}

#[test]
fn join_an_existing_pid_namespace() {
    let first = Bundle::new(&["sleep", "1000"]);
    let id1 = first.id("pidns-owner");
    first.run_detached(&id1);
    let pid = first.state(&id1)["pid"].as_i64().unwrap().to_string();

    let b = Bundle::sh("echo $$; readlink /proc/self/ns/pid");
    b.config(|c| {
        for n in c["linux"]["namespaces"].as_array_mut().unwrap().iter_mut() {
            if n["type"] == "pid" {
                n["path"] = format!("/proc/{pid}/ns/pid").into();
            }
        }
    });
    let out = b.run(&b.id("pidns-joiner"));
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_ne!(lines[0], "1", "the first container's sleep is pid 1 there");
    assert_eq!(lines[1], ns_inode(&pid, "pid"));
}

#[test]
fn domainname_in_the_uts_namespace() {
    let b = Bundle::new(&["cat", "/proc/sys/kernel/domainname"]);
    b.config(|c| c["domainname"] = "example.org".into());
    let out = b.run(&b.id("domain"));
    out.ok();
    assert_eq!(out.stdout, "example.org\n");
}

#[test]
fn rootless_spec_runs() {
    // `spec --rootless`: a user namespace mapping the caller (root here) to
    // root, no network namespace, /sys bound from the host.
    let b = Bundle::new(&["true"]);
    std::fs::remove_file(b.path.join("config.json")).unwrap();
    let bundle = b.path.to_str().unwrap().to_string();
    b.berth(&["spec", "--rootless", "--bundle", &bundle]).ok();
    b.config(|c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "cat /proc/self/uid_map; ls /sys/kernel >/dev/null && echo sys-ok"
        ]);
    });
    let out = b.run(&b.id("rootless"));
    out.ok();
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "1", "sys-ok"],
        "{}",
        out.stdout
    );
}

/// `spec` writes runc's namespaces for this host: on a host whose only
/// hierarchy is cgroup v2 runc's spec adds a cgroup namespace (on v1 and
/// hybrid hosts it has none), and `--rootless` keeps it, drops the network
/// namespace and adds a user one. Compared with runc's own `spec` here, so
/// the v2 guest checks the v2 case and this host the hybrid one.
#[test]
fn spec_writes_runcs_namespaces_for_this_host() {
    let runc = std::env::var("RUNC").unwrap_or_else(|_| "/usr/sbin/runc".into());
    let unified = std::fs::metadata("/sys/fs/cgroup/cgroup.controllers").is_ok();
    let dir = tempfile::tempdir().unwrap();
    for rootless in [false, true] {
        let mut seen = Vec::new();
        for rt in [crate::common::berth_bin(), runc.as_str()] {
            let d = dir.path().join(format!("{}-{rootless}", seen.len()));
            std::fs::create_dir(&d).unwrap();
            let mut args = vec!["spec", "--bundle", d.to_str().unwrap()];
            if rootless {
                args.push("--rootless");
            }
            let out = std::process::Command::new(rt).args(&args).output().unwrap();
            assert!(out.status.success(), "{rt} spec: {out:?}");
            let text = std::fs::read_to_string(d.join("config.json")).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            seen.push(v["linux"]["namespaces"].clone());
        }
        assert_eq!(
            seen[0], seen[1],
            "berth's namespaces, then runc's (rootless {rootless})"
        );
        let types: Vec<&str> = seen[0]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(types.contains(&"cgroup"), unified, "{types:?}");
        assert_eq!(types.contains(&"network"), !rootless, "{types:?}");
    }
}
