//! create → start → state → kill → delete, run, list, and what is left.

use crate::common::Bundle;

#[test]
fn create_start_kill_delete() {
    let b = Bundle::new(&["sleep", "1000"]);
    let id = b.id("life");
    let pid_file = b.path.join("pid");
    let bundle = b.path.to_str().unwrap().to_string();
    b.berth(&[
        "create",
        "--bundle",
        &bundle,
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ])
    .ok();

    let st = b.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["bundle"], bundle.as_str());
    assert_eq!(st["rootfs"], format!("{bundle}/rootfs").as_str());
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    // Created: berth's code waits, the user's program has not run yet.
    let cmdline = |pid: i64| {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap()
            .replace('\0', " ")
    };
    assert!(!cmdline(pid).starts_with("sleep"), "{}", cmdline(pid));

    b.berth(&["start", &id]).ok();
    assert_eq!(b.status(&id), "running");
    assert_eq!(cmdline(pid), "sleep 1000 ");
    let out = b.berth(&["start", &id]);
    assert_ne!(out.code, 0, "a running container cannot be started again");
    assert!(out.stderr.contains(&id), "{}", out.stderr);

    let out = b.berth(&["delete", &id]);
    assert_ne!(
        out.code, 0,
        "a running container is not deleted without --force"
    );
    assert!(
        out.stderr.contains(&id) && out.stderr.contains("running"),
        "{}",
        out.stderr
    );

    b.berth(&["kill", &id, "KILL"]).ok();
    wait_stopped(&b, &id);
    assert_eq!(b.state(&id)["pid"], 0);
    b.berth(&["delete", &id]).ok();
    b.assert_no_leftovers(&id);
    assert_ne!(b.berth(&["state", &id]).code, 0);
}

/// The process is reaped by the test process (a subreaper) only when it
/// exits; state must read a zombie as stopped meanwhile.
fn wait_stopped(b: &Bundle, id: &str) {
    for _ in 0..200 {
        if b.status(id) == "stopped" {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{id} never stopped");
}

#[test]
fn created_container_is_not_deleted_without_force() {
    let b = Bundle::new(&["true"]);
    let id = b.id("created-del");
    b.create(&id).ok();
    let out = b.berth(&["delete", &id]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("created"), "{}", out.stderr);
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

#[test]
fn run_returns_the_exit_status() {
    let b = Bundle::sh("echo out; echo err >&2; exit 7");
    let id = b.id("run-status");
    let out = b.run(&id);
    assert_eq!(out.code, 7);
    assert_eq!(out.stdout, "out\n");
    assert!(out.stderr.contains("err"));
    b.assert_no_leftovers(&id);
}

#[test]
fn run_killed_by_signal_is_128_plus_n() {
    // Without a pid namespace: an init ignores signals from its own namespace.
    let b = Bundle::sh("kill -9 $$");
    b.config(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid")
    });
    let id = b.id("run-signal");
    let out = b.run(&id);
    assert_eq!(out.code, 137, "{out:?}");
    // A user's SIGKILL is not the OOM killer's: run says nothing of it.
    assert!(!out.stderr.contains("OOM"), "{}", out.stderr);
    b.assert_no_leftovers(&id);
}

#[test]
fn run_forwards_signals() {
    let b = Bundle::sh(
        "trap 'echo got TERM; exit 3' TERM; echo ready; while true; do sleep 0.05; done",
    );
    let id = b.id("run-fwd");
    let bundle = b.path.to_str().unwrap().to_string();
    let out_f = tempfile::NamedTempFile::new().unwrap();
    let mut child = b
        .cmd(&["run", "--bundle", &bundle, &id])
        .stdout(out_f.reopen().unwrap())
        .spawn()
        .unwrap();
    // Wait until the trap is set, then signal berth, not the container.
    for _ in 0..500 {
        if std::fs::read_to_string(out_f.path())
            .unwrap()
            .contains("ready")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    assert!(
        std::fs::read_to_string(out_f.path())
            .unwrap()
            .contains("got TERM")
    );
    b.assert_no_leftovers(&id);
}

#[test]
fn run_detach_and_keep() {
    let b = Bundle::new(&["sleep", "1000"]);
    let id = b.id("detach");
    b.run_detached(&id);
    assert_eq!(b.status(&id), "running");
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);

    let b = Bundle::new(&["true"]);
    let id = b.id("keep");
    let bundle = b.path.to_str().unwrap().to_string();
    b.berth(&["run", "--keep", "--bundle", &bundle, &id]).ok();
    assert_eq!(b.status(&id), "stopped");
    b.berth(&["delete", &id]).ok();
    b.assert_no_leftovers(&id);
}

#[test]
fn list_shows_every_container() {
    let b = Bundle::new(&["sleep", "1000"]);
    let (a, c) = (b.id("list-a"), b.id("list-b"));
    b.create(&a).ok();
    b.create(&c).ok();
    b.berth(&["start", &c]).ok();
    let out = b.berth(&["list"]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("STATUS") && lines[0].contains("OWNER")
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&a) && l.contains("created"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&c) && l.contains("running"))
    );
    let out = b.berth(&["list", "-q"]);
    assert_eq!(out.stdout, format!("{a}\n{c}\n"));
    let out = b.berth(&["list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["status"], "running");
}

#[test]
fn delete_force_of_a_missing_container_succeeds() {
    let b = Bundle::new(&["true"]);
    assert_eq!(b.berth(&["delete", "--force", "no-such-container"]).code, 0);
    let out = b.berth(&["delete", "no-such-container"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no-such-container") && out.stderr.contains("does not exist"),
        "{}",
        out.stderr
    );
}

#[test]
fn kill_all_reaches_every_process() {
    let b = Bundle::sh("sleep 1000 & sleep 1000 & wait");
    b.config(|c| {
        // Without a pid namespace, init's death would not end the others.
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    let id = b.id("killall");
    b.run_detached(&id);
    let procs = crate::common::cgroup_file("pids", &format!("/berth/{id}"), "cgroup.procs");
    for _ in 0..200 {
        if std::fs::read_to_string(&procs).unwrap().lines().count() >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let pids: Vec<i32> = std::fs::read_to_string(&procs)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 3, "sh and two sleeps in the cgroup");
    b.berth(&["kill", "--all", &id, "9"]).ok();
    for _ in 0..200 {
        if std::fs::read_to_string(&procs).unwrap().trim().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        std::fs::read_to_string(&procs).unwrap().trim(),
        "",
        "every process got SIGKILL"
    );
    b.berth(&["delete", &id]).ok();
    b.assert_no_leftovers(&id);
}

#[test]
fn duplicate_and_bad_ids() {
    let b = Bundle::new(&["true"]);
    let id = b.id("dup");
    b.create(&id).ok();
    let out = b.create(&id);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(&id) && out.stderr.contains("already exists"),
        "{}",
        out.stderr
    );
    assert_eq!(b.status(&id), "created", "the first container is untouched");
    for bad in ["a/b", "..", "../x"] {
        let out = b.create(bad);
        assert_eq!(out.code, 1, "{bad}");
        assert!(
            out.stderr.contains("invalid container id"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn log_file_in_json() {
    let b = Bundle::new(&["true"]);
    let log = b.path.join("log.json");
    let out = b.berth(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "nope",
    ]);
    assert_eq!(out.code, 1);
    let text = std::fs::read_to_string(&log).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"]
            .as_str()
            .unwrap()
            .contains("container does not exist: \"nope\"")
    );
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn version_names_berth_commit_and_spec() {
    let b = Bundle::new(&["true"]);
    let out = b.berth(&["--version"]);
    out.ok();
    assert!(out.stdout.starts_with("berth version "));
    assert!(out.stdout.contains("\ncommit: "));
    assert!(out.stdout.contains("\nspec: 1."));
}

#[test]
fn log_file_in_text_with_debug() {
    let b = Bundle::new(&["true"]);
    let log = b.path.join("log.txt");
    let id = b.id("debuglog");
    let bundle = b.path.to_str().unwrap().to_string();
    b.berth(&[
        "--log",
        log.to_str().unwrap(),
        "--debug",
        "run",
        "--bundle",
        &bundle,
        &id,
    ])
    .ok();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines()
            .all(|l| l.starts_with("time=\"") && l.contains(" level=")),
        "{text}"
    );
    assert!(text.contains("level=debug"), "{text}");
    assert!(text.contains(&id), "{text}");
}

#[test]
fn start_of_a_program_that_ends_at_once_succeeds() {
    // start opened exec.fifo (releasing the process) before it looked at
    // the process; /bin/true could be gone by then (found by make bench).
    let b = Bundle::new(&["/bin/true"]);
    for i in 0..40 {
        let id = b.id(&format!("quick{i}"));
        b.create(&id).ok();
        b.berth(&["start", &id]).ok();
        b.berth(&["delete", "--force", &id]).ok();
    }
}
