//! linux.netDevices: a veth end moved into a container, renamed, with its
//! permanent addresses and up, seen from inside; and the config errors.
//! This kernel has no dummy driver, and the host's own network is not the
//! tests' to touch: each test makes a network namespace of its own, puts a
//! veth pair in it and runs berth there (nsenter --net only: `ip netns
//! exec` would also remount /sys and hide the cgroup hierarchies), so that
//! namespace is berth's "host".

use crate::common::{Bundle, Out, berth_bin, run_with_timeout};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static N: AtomicU32 = AtomicU32::new(0);

/// A named network namespace (/run/netns/NAME), deleted on drop with all
/// its interfaces.
struct TestNetns(String);

impl TestNetns {
    /// With a veth pair va0 (up) and vb0 in it.
    fn with_veth() -> TestNetns {
        let name = format!(
            "berth-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]);
        let ns = TestNetns(name);
        ns.ip(&["link", "add", "va0", "type", "veth", "peer", "name", "vb0"]);
        ns.ip(&["link", "set", "va0", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.0.as_str()];
        all.extend(args);
        ip(&all)
    }

    /// The interfaces' names in this namespace.
    fn links(&self) -> Vec<String> {
        self.ip(&["-o", "link", "show"])
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap().to_string())
            .collect()
    }

    /// berth with the bundle's state root, in this namespace.
    fn berth(&self, b: &Bundle, args: &[&str]) -> Out {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.0))
            .arg(berth_bin())
            .arg("--root")
            .arg(&b.root)
            .args(args)
            .stdin(Stdio::null());
        run_with_timeout(c, Duration::from_secs(60))
    }

    fn create(&self, b: &Bundle, id: &str) -> Out {
        self.berth(b, &["create", "--bundle", b.path.to_str().unwrap(), id])
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_stopped(b: &Bundle, id: &str) {
    for _ in 0..500 {
        if b.status(id) == "stopped" {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{id} never stopped");
}

/// vb0 with a permanent IPv4 and IPv6 address, and one with a lifetime
/// (not permanent: it stays behind).
fn addresses(ns: &TestNetns) {
    ns.ip(&["addr", "add", "10.199.0.2/24", "dev", "vb0"]);
    ns.ip(&["addr", "add", "fd00:b::2/64", "dev", "vb0", "nodad"]);
    ns.ip(&[
        "addr",
        "add",
        "10.199.1.2/24",
        "dev",
        "vb0",
        "valid_lft",
        "100",
        "preferred_lft",
        "100",
    ]);
}

/// What the container printed, checked: ctr0 up, its two permanent
/// addresses, not the one with a lifetime, and no vb0.
#[track_caller]
fn assert_moved(out: &str) {
    let link = out
        .lines()
        .find(|l| l.contains(": ctr0"))
        .unwrap_or_else(|| panic!("no ctr0 in the container: {out}"));
    assert!(link.contains(",UP"), "ctr0 is up: {link}");
    assert!(out.contains("inet 10.199.0.2/24"), "{out}");
    assert!(out.contains("inet6 fd00:b::2/64"), "{out}");
    assert!(
        !out.contains("10.199.1.2"),
        "a dynamic address stays: {out}"
    );
    assert!(!out.contains("vb0"), "{out}");
}

const SHOW: &str = "ip link show; ip addr show dev ctr0";

#[test]
fn a_veth_end_is_moved_renamed_with_its_addresses_and_up() {
    let ns = TestNetns::with_veth();
    addresses(&ns);
    let b = Bundle::sh(&format!("({SHOW}) > /tmp/out 2>&1"));
    b.config(|c| {
        c["linux"]["netDevices"] = json!({"vb0": {"name": "ctr0"}});
        c["root"]["readonly"] = false.into();
    });
    let id = b.id("netdev");
    ns.create(&b, &id).ok();
    // Created: moved already, out of berth's namespace; its peer stays.
    let links = ns.links();
    assert!(!links.contains(&"vb0".to_string()), "{links:?}");
    assert!(links.contains(&"va0".to_string()), "{links:?}");
    ns.berth(&b, &["start", &id]).ok();
    wait_stopped(&b, &id);
    let out = std::fs::read_to_string(b.path.join("rootfs/tmp/out")).unwrap();
    assert_moved(&out);
    ns.berth(&b, &["delete", &id]).ok();
    b.assert_no_leftovers(&id);
    // The container's namespace is gone, and the veth with it (both ends:
    // a virtual interface is destroyed, not returned).
    assert!(!ns.links().contains(&"va0".to_string()));
}

/// The network namespace is the user namespace's: berth still moves from
/// the host's side, into a namespace that exists only after the clone.
#[test]
fn a_veth_end_moves_into_a_container_with_a_user_namespace() {
    let ns = TestNetns::with_veth();
    addresses(&ns);
    let b = Bundle::sh(SHOW);
    b.config(|c| {
        c["linux"]["netDevices"] = json!({"vb0": {"name": "ctr0"}});
        let nss = c["linux"]["namespaces"].as_array_mut().unwrap();
        nss.retain(|n| n["type"] != "user");
        nss.push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    let id = b.id("netdev-userns");
    let out = ns.berth(&b, &["run", "--bundle", b.path.to_str().unwrap(), &id]);
    out.ok();
    assert_moved(&out.stdout);
}

/// Each refused before anything exists, naming the JSON path; the
/// interface stays where it was.
#[test]
fn config_errors_name_the_entry() {
    let ns = TestNetns::with_veth();
    let cases: [(Value, bool, &str); 3] = [
        (
            json!({"nosuch0": {"name": "ctr0"}}),
            true,
            r#"config.json: linux.netDevices["nosuch0"]: there is no network interface nosuch0 on the host"#,
        ),
        (
            json!({"va0": {"name": "ctr0"}, "vb0": {"name": "ctr0"}}),
            true,
            r#"config.json: linux.netDevices["vb0"]: the name ctr0 in the container is also linux.netDevices["va0"]'s"#,
        ),
        (
            json!({"vb0": {}}),
            false,
            "config.json: linux.netDevices: interfaces are moved into the container's own network namespace",
        ),
    ];
    for (devices, netns, want) in cases {
        let b = Bundle::new(&["true"]);
        b.config(|c| {
            c["linux"]["netDevices"] = devices;
            if !netns {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "network");
            }
        });
        let id = b.id("netdev-bad");
        let out = ns.create(&b, &id);
        assert_eq!(out.code, 1, "{out:?}");
        // The log line escapes the path's quotes.
        let stderr = out.stderr.replace(r#"\""#, "\"");
        assert!(stderr.contains(want), "expected {want:?} in {stderr:?}");
        assert_eq!(out.stderr.trim().lines().count(), 1, "{:?}", out.stderr);
        b.assert_no_leftovers(&id);
        let links = ns.links();
        assert!(links.contains(&"vb0".to_string()), "{links:?}");
    }
}
