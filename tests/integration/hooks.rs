//! Hooks: when each runs, where, and with what on stdin.

use crate::common::Bundle;
use serde_json::{Value, json};

fn hook(file: &std::path::Path, tag: &str) -> Value {
    // Append the tag, then the state JSON read from stdin, as one line.
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("printf '%s ' {tag} >> {0}; cat >> {0}; echo >> {0}", file.display())]})
}

#[test]
fn every_hook_runs_in_order_with_the_state() {
    let b = Bundle::new(&["true"]);
    let log = b.path.join("hooks.log");
    b.config(|c| {
        c["hooks"] = json!({
            "prestart": [hook(&log, "prestart")],
            "createRuntime": [hook(&log, "createRuntime")],
            "createContainer": [hook(&log, "createContainer")],
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo startContainer $(hostname) >> /hooklog"]}],
            "poststart": [hook(&log, "poststart")],
            "poststop": [hook(&log, "poststop")]
        });
        c["root"]["readonly"] = false.into();
    });
    let id = b.id("hooks");
    b.create(&id).ok();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "create runs three hooks: {text}");
    for (line, tag) in lines
        .iter()
        .zip(["prestart", "createRuntime", "createContainer"])
    {
        let (t, state) = line.split_once(' ').unwrap();
        assert_eq!(t, tag);
        let v: Value = serde_json::from_str(state).unwrap();
        assert_eq!(v["id"], id.as_str());
        assert_eq!(v["status"], "creating");
        assert!(v["pid"].as_i64().unwrap() > 0);
        assert_eq!(v["bundle"], b.path.to_str().unwrap());
    }
    b.berth(&["start", &id]).ok();
    let text = std::fs::read_to_string(&log).unwrap();
    let last: Vec<&str> = text.lines().collect();
    assert_eq!(last.len(), 4, "start runs poststart: {text}");
    assert!(last[3].starts_with("poststart {"));
    let v: Value = serde_json::from_str(last[3].split_once(' ').unwrap().1).unwrap();
    assert_eq!(v["status"], "running");
    // startContainer ran inside the container: its file is in the rootfs.
    assert_eq!(
        std::fs::read_to_string(b.path.join("rootfs/hooklog")).unwrap(),
        "startContainer berth\n"
    );
    for _ in 0..200 {
        if b.status(&id) == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    b.berth(&["delete", &id]).ok();
    let text = std::fs::read_to_string(&log).unwrap();
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("poststop {"), "{text}");
    let v: Value = serde_json::from_str(last.split_once(' ').unwrap().1).unwrap();
    assert_eq!(v["status"], "stopped");
    b.assert_no_leftovers(&id);
}

#[test]
fn failing_prestart_fails_create_and_runs_poststop() {
    failing_hook_runs_poststop("prestart", "no way", 4);
}

/// A create whose `kind` hook says `said` and exits with `status`: create
/// fails with the hook's words, poststop runs, and nothing is left.
/// Returns the bundle, its poststop hook's log removed.
fn failing_hook_runs_poststop(kind: &str, said: &str, status: i32) -> (Bundle, String) {
    let b = Bundle::new(&["true"]);
    let log = b.path.join("hooks.log");
    b.config(|c| {
        c["hooks"] = json!({
            kind: [{"path": "/bin/sh", "args": ["sh", "-c", format!("echo {said} >&2; exit {status}")]}],
            "poststop": [hook(&log, "poststop")]
        });
    });
    let id = b.id("hookfail");
    let out = b.create(&id);
    assert_eq!(out.code, 1);
    let want = format!("{kind} hook #0 (/bin/sh): exited with status {status}: {said}");
    assert!(out.stderr.contains(&want), "{}", out.stderr);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.starts_with("poststop "),
        "poststop did not run: {text:?}"
    );
    b.assert_no_leftovers(&id);
    std::fs::remove_file(&log).unwrap();
    (b, id)
}

/// The container process reports a failed createContainer hook as a failure
/// of that stage, and berth runs poststop on it (the spec's step 12); a
/// failure of another stage in that process is no hook's, and runs none.
#[test]
fn failing_create_container_hook_runs_poststop_and_a_mount_failure_does_not() {
    let (b, id) = failing_hook_runs_poststop("createContainer", "refused", 3);
    let log = b.path.join("hooks.log");

    // A mount whose source is missing fails in the same process, with a
    // word about createContainer in its path: still no poststop.
    b.config(|c| {
        c["hooks"] = json!({"poststop": [hook(&log, "poststop")]});
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt", "type": "bind", "options": ["bind"],
            "source": "/nonexistent/createContainer hook"
        }));
    });
    let out = b.create(&id);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("createContainer hook"),
        "{}",
        out.stderr
    );
    assert!(!log.exists(), "poststop ran for a mount failure");
    b.assert_no_leftovers(&id);
}

#[test]
fn failing_poststart_only_warns() {
    let b = Bundle::new(&["true"]);
    b.config(|c| c["hooks"] = json!({"poststart": [{"path": "/bin/false"}]}));
    let id = b.id("poststart-warn");
    let out = b.run(&id);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("level=warning") && out.stderr.contains("poststart hook #0"),
        "{}",
        out.stderr
    );
}

#[test]
fn hook_timeout_fails_create() {
    let b = Bundle::new(&["true"]);
    b.config(|c| c["hooks"] = json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}));
    let id = b.id("hook-timeout");
    let out = b.create(&id);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("timed out after 1 s"), "{}", out.stderr);
    b.assert_no_leftovers(&id);
}

#[test]
fn prestart_hooks_see_the_process_in_its_cgroup() {
    // nvidia's prestart hook, for one, reads the container's cgroup from
    // /proc/PID/cgroup to allow its devices there.
    // The parent berth made for this test goes even when an assert fails, after
    // the bundle (declared first, dropped last).
    struct Parent;
    impl Drop for Parent {
        fn drop(&mut self) {
            for dir in crate::common::cgroup_hierarchies() {
                let _ = std::fs::remove_dir(dir.join("berth-test-hooks"));
            }
        }
    }
    let _parent = Parent;
    let b = Bundle::new(&["true"]);
    let out = b.path.join("cgroup.seen");
    let id = b.id("hookcg");
    let path = format!("/berth-test-hooks/{id}");
    b.config(|c| {
        c["linux"]["cgroupsPath"] = path.as_str().into();
        c["hooks"] = json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c",
            format!("pid=$(sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/'); cat /proc/$pid/cgroup > {}", out.display())]}]});
    });
    b.create(&id).ok();
    let seen = std::fs::read_to_string(&out).unwrap();
    b.berth(&["delete", "--force", &id]).ok();
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        assert!(
            seen.lines().any(|l| l == format!("0::{path}")),
            "not in {path}: {seen}"
        );
    } else {
        for h in ["memory", "pids", "devices"] {
            assert!(
                seen.lines()
                    .any(|l| l.contains(&format!(":{h}:")) && l.ends_with(&path)),
                "{h} not {path}: {seen}"
            );
        }
    }
}

/// --debug times each phase of create, in the container process too, in
/// the environment's W3C trace; a hook gets its own span as TRACEPARENT.
/// Without --debug, no phase is logged.
#[test]
fn debug_log_times_each_phase_in_the_callers_trace() {
    let b = Bundle::new(&["true"]);
    let seen = b.path.join("traceparent");
    b.config(|c| {
        c["hooks"] = json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c",
            format!("echo \"$TRACEPARENT\" > {}", seen.display())]}]});
    });
    let (trace, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let log = b.path.join("log.json");
    let id = b.id("traced");
    let bundle = b.path.to_str().unwrap();
    let mut cmd = b.cmd(&[
        "--debug",
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "run",
        "--bundle",
        bundle,
        &id,
    ]);
    cmd.env("TRACEPARENT", format!("00-{trace}-{parent}-01"));
    let out = crate::common::run_with_timeout(cmd, std::time::Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out:?}");
    let records: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let phase = |name: &str| -> &Value {
        records
            .iter()
            .find(|r| r["phase"] == name)
            .unwrap_or_else(|| panic!("no phase {name} in {records:#?}"))
    };
    for name in [
        "config",
        "state dir",
        "cgroup",
        "clone",
        "namespaces",
        "mounts",
        "pivot_root",
        "prestart hook #0",
        "container process setup",
        "delete",
    ] {
        let r = phase(name);
        assert!(r["durationMs"].as_f64().unwrap() >= 0.0, "{r}");
        assert_eq!(r["traceId"], trace, "{r}");
        assert_eq!(r["parentId"], parent, "{r}");
        assert_eq!(r["level"], "debug", "{r}");
    }
    let hook = phase("prestart hook #0")["spanId"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap().trim(),
        format!("00-{trace}-{hook}-01")
    );

    // Without --debug: no phase logged, and the hook inherits berth's
    // environment as it is, the caller's TRACEPARENT with it.
    let quiet = b.path.join("quiet.json");
    let id = b.id("untraced");
    let mut cmd = b.cmd(&[
        "--log",
        quiet.to_str().unwrap(),
        "run",
        "--bundle",
        bundle,
        &id,
    ]);
    cmd.env("TRACEPARENT", format!("00-{trace}-{parent}-01"));
    let out = crate::common::run_with_timeout(cmd, std::time::Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out:?}");
    let text = std::fs::read_to_string(&quiet).unwrap_or_default();
    assert!(!text.contains("phase"), "{text}");
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap().trim(),
        format!("00-{trace}-{parent}-01")
    );
}
