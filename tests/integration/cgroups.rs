//! The container's cgroup: where it is, that the process is in it from the
//! start, device rules, and that delete removes it.

use crate::common::Bundle;
use serde_json::json;

#[test]
fn process_is_in_its_cgroup_in_every_hierarchy() {
    let b = Bundle::new(&["cat", "/proc/self/cgroup"]);
    let id = b.id("cg");
    b.config(|c| c["linux"]["cgroupsPath"] = format!("/berth-test/{id}").into());
    let out = b.run(&id);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.len() >= 9, "{}", out.stdout);
    for l in lines {
        assert!(l.ends_with(&format!(":/berth-test/{id}")), "{l}");
    }
    for d in b.cgroup_dirs(&format!("/berth-test/{id}")) {
        assert!(!d.exists(), "{} removed", d.display());
    }
    // The test's own parent; berth only removes its default /berth.
    for d in b.cgroup_dirs("/berth-test") {
        let _ = std::fs::remove_dir(d);
    }
}

#[test]
fn relative_cgroups_path_goes_under_berth() {
    let b = Bundle::new(&["cat", "/proc/self/cgroup"]);
    let id = b.id("cgrel");
    b.config(|c| c["linux"]["cgroupsPath"] = format!("rel/{id}").into());
    let out = b.run(&id);
    out.ok();
    assert!(out.stdout.lines().all(|l| l.ends_with(&format!(":/berth/rel/{id}"))), "{}", out.stdout);
    for d in b.cgroup_dirs(&format!("/berth/rel/{id}")) {
        assert!(!d.exists());
    }
}

#[test]
fn device_rules_are_written_in_order_and_enforced() {
    // /dev/kmsg is no default device: the user's rules alone decide.
    let b = Bundle::sh("head -c1 /dev/zero >/dev/null && echo zero-ok; head -c1 /dev/kmsg 2>&1; cat /sys/fs/cgroup/devices/devices.list");
    b.config(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]);
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "r"}
        ]);
    });
    let id = b.id("devrules");
    let out = b.run(&id);
    assert!(out.stdout.contains("zero-ok"), "{}", out.stdout);
    assert!(out.stdout.contains("/dev/kmsg: Operation not permitted"), "reading is denied: {}", out.stdout);
    // 1:11 was allowed rwm, then r denied: "wm" is what is left of it.
    assert!(out.stdout.lines().any(|l| l == "c 1:11 wm"), "{}", out.stdout);
    assert!(!out.stdout.contains("a *:* rwm"), "{}", out.stdout);
    b.assert_no_leftovers(&id);
}
