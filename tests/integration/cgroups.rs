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
    let b = Bundle::sh("head -c1 /dev/zero >/dev/null && echo zero-ok; head -c1 /dev/full >/dev/null 2>&1 || echo full-denied; sleep 1000");
    b.config(|c| {
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 7, "access": "r"}
        ]);
    });
    let id = b.id("devrules");
    let bundle = b.path.to_str().unwrap().to_string();
    let log = b.path.join("out");
    let mut cmd = b.cmd(&["run", "-d", "--bundle", &bundle, &id]);
    cmd.stdout(std::fs::File::create(&log).unwrap());
    assert!(cmd.status().unwrap().success());
    for _ in 0..300 {
        if std::fs::read_to_string(&log).unwrap().contains("full-denied") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(out.contains("zero-ok") && out.contains("full-denied"), "{out}");
    let list = std::fs::read_to_string(format!("/sys/fs/cgroup/devices/berth/{id}/devices.list")).unwrap();
    // 1:7 was allowed rwm, then r denied: "wm" is what is left of it.
    assert!(list.lines().any(|l| l == "c 1:7 wm"), "{list}");
    assert!(!list.contains("a *:* rwm"), "{list}");
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}
