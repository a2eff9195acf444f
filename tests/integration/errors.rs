//! Bad input: a one-line error naming what is wrong, exit status 1, and
//! nothing left behind.

use crate::common::Bundle;
use serde_json::json;

#[track_caller]
fn create_fails(b: &Bundle, want: &str) {
    let id = b.id("bad");
    let out = b.create(&id);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(want),
        "expected {want:?} in {:?}",
        out.stderr
    );
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "one line: {:?}",
        out.stderr
    );
    b.assert_no_leftovers(&id);
}

#[test]
fn unknown_namespace_type() {
    let b = Bundle::new(&["true"]);
    let mut at = 0;
    b.config(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        at = ns.len();
        ns.push(json!({"type": "foo"}))
    });
    create_fails(
        &b,
        &format!(r#"config.json: linux.namespaces[{at}].type: unknown namespace type \"foo\""#),
    );
}

#[test]
fn invalid_json() {
    let b = Bundle::new(&["true"]);
    std::fs::write(b.path.join("config.json"), "{\"ociVersion\": ").unwrap();
    create_fails(&b, "config.json: invalid JSON");
}

#[test]
fn wrong_type() {
    let b = Bundle::new(&["true"]);
    b.config(|c| c["process"]["user"]["uid"] = "root".into());
    create_fails(&b, "config.json: process.user.uid: invalid type: string");
}

#[test]
fn missing_rootfs() {
    let b = Bundle::new(&["true"]);
    b.config(|c| c["root"]["path"] = "nope".into());
    create_fails(&b, "config.json: root.path: rootfs");
}

#[test]
fn relative_mount_destination() {
    let b = Bundle::new(&["true"]);
    b.config(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "rel", "type": "tmpfs", "source": "tmpfs"}))
    });
    create_fails(
        &b,
        r#"config.json: mounts[7].destination: a mount destination must be an absolute path, got \"rel\""#,
    );
}

#[test]
fn namespace_path_of_the_wrong_type() {
    let b = Bundle::new(&["true"]);
    b.config(|c| {
        for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = format!("/proc/{}/ns/uts", std::process::id()).into();
            }
        }
    });
    create_fails(
        &b,
        &format!(
            "linux.namespaces[1].path: /proc/{}/ns/uts is not a network namespace",
            std::process::id()
        ),
    );
}

/// This host has no resctrl: every intelRdt field (1.3's schemata and
/// enableMonitoring too) is refused before anything exists.
#[test]
fn intel_rdt_without_resctrl() {
    assert!(
        !std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(" - resctrl "),
        "this test expects a host without resctrl"
    );
    let b = Bundle::new(&["true"]);
    b.config(|c| {
        c["linux"]["intelRdt"] = json!({"schemata": ["L3:0=f"], "enableMonitoring": true})
    });
    create_fails(
        &b,
        "config.json: linux.intelRdt: this host has no resctrl filesystem mounted at /sys/fs/resctrl",
    );
}

#[test]
fn missing_program() {
    let b = Bundle::new(&["no-such-program"]);
    create_fails(
        &b,
        r#"exec: \"no-such-program\": executable file not found in $PATH"#,
    );
}

#[test]
fn bad_mount_option_fails_after_the_clone_and_cleans_up() {
    // Only the kernel can tell this option is wrong: the container process
    // already exists, and must be gone with its cgroup and state.
    let b = Bundle::new(&["true"]);
    b.config(|c| c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["mode=notanumber"]})));
    create_fails(&b, "mounts[7] (/x)");
}

#[test]
fn bind_source_missing() {
    let b = Bundle::new(&["true"]);
    b.config(|c| c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/x", "type": "bind", "source": "/no/such/dir", "options": ["bind"]})));
    create_fails(&b, "bind source /no/such/dir: no such file or directory");
}

#[test]
fn systemd_cgroup_flag_needs_systemd() {
    // Refused where a cgroup would be made; other commands run, as runc's.
    // (The driver itself is tested under systemd: tests/systemd/run.sh.)
    if std::path::Path::new("/run/systemd/system").is_dir() {
        return;
    }
    let b = Bundle::new(&["true"]);
    let id = b.id("systemd");
    let bundle = b.path.to_str().unwrap();
    let out = b.berth(&["--systemd-cgroup", "run", "--bundle", bundle, &id]);
    assert_eq!(out.code, 1);
    // At once, naming systemd, on a host whose init is not systemd (these).
    assert!(
        out.stderr.contains("init (PID 1) is not systemd"),
        "{}",
        out.stderr
    );
    b.assert_no_leftovers(&id);
    b.berth(&["--systemd-cgroup", "list"]).ok();
}

#[test]
fn terminal_without_console_socket() {
    let b = Bundle::new(&["true"]);
    b.config(|c| c["process"]["terminal"] = true.into());
    create_fails(&b, "--console-socket");
}

#[test]
fn kill_of_berth_during_create_leaves_what_delete_force_clears() {
    // A createRuntime hook that blocks: berth create is then mid-way, with
    // its state, cgroup and container process made.
    let b = Bundle::new(&["true"]);
    let marker = b.path.join("hook-pid");
    b.config(|c| {
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", format!("echo $$ > {}.tmp; mv {0}.tmp {0}; exec sleep 1000", marker.display())]}]});
    });
    let id = b.id("killed-create");
    let bundle = b.path.to_str().unwrap().to_string();
    let mut child = b
        .cmd(&["create", "--bundle", &bundle, &id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..1000 {
        if marker.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let hook: i32 = std::fs::read_to_string(&marker)
        .expect("the hook ran")
        .trim()
        .parse()
        .unwrap();
    let state = b.state(&id);
    assert_eq!(state["status"], "creating");
    let pid = state["pid"].as_i64().unwrap();
    assert!(pid > 0);
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
    // The container process and the hook went with it (either may linger
    // as a zombie of this test process, the subreaper: gone all the same).
    for p in [pid as i32, hook] {
        let mut alive = false;
        for _ in 0..100 {
            alive = std::fs::read_to_string(format!("/proc/{p}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false);
            if !alive {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!alive, "process {p} still runs");
    }
}

#[test]
fn a_create_killed_before_its_process_existed() {
    // What a kill -9 of berth right after writing the first state leaves:
    // every command answers cleanly, delete --force clears it.
    let b = Bundle::new(&["true"]);
    let id = b.id("half-made");
    let dir = b.root.join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    let state = json!({"id": id, "pid": 0, "start_time": 0, "phase": "creating", "bundle": b.path, "rootfs": b.path.join("rootfs"),
                       "created": "2026-01-01T00:00:00Z", "cgroup_path": format!("/berth/{id}")});
    std::fs::write(dir.join("state.json"), state.to_string()).unwrap();
    assert_eq!(b.status(&id), "creating");
    for args in [
        vec!["kill", &id, "KILL"],
        vec!["start", &id],
        vec!["events", "--stats", &id],
        vec!["pause", &id],
        vec!["delete", &id],
    ] {
        let out = b.berth(&args);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert!(out.stderr.contains(&id), "{args:?}: {}", out.stderr);
    }
    assert_eq!(b.berth(&["exec", &id, "true"]).code, 255);
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
    // And a state directory without its state file at all.
    std::fs::create_dir_all(b.root.join(&id)).unwrap();
    let out = b.berth(&["state", &id]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("delete --force removes it"),
        "{}",
        out.stderr
    );
    b.berth(&["delete", "--force", &id]).ok();
    assert!(!b.root.join(&id).exists());
}

#[test]
fn command_line_mistakes_are_named() {
    let b = Bundle::new(&["true"]);
    for (args, says) in [
        (&["create"][..], "missing the container id"),
        (&["delete", "--frce", "x"], "unknown flag --frce"),
        (
            &["list", "--format", "yaml"],
            "--format \"yaml\": one of table, json",
        ),
        (
            &["exec", "--preserve-fds", "many", "x", "true"],
            "--preserve-fds \"many\"",
        ),
        (&["state", "a", "b"], "unexpected argument \"b\""),
    ] {
        // runc's status for a wrong command line: 1.
        let out = b.berth(args);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        // The error is a logrus line: its quotes are escaped.
        assert!(
            out.stderr.replace("\\\"", "\"").contains(says),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("level=error"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("Usage: berth"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let out = b.berth(&["frobnicate"]);
    assert_eq!(out.code, 3, "runc's status for an unknown command: {out:?}");
    assert!(
        out.stderr.contains("unknown command \\\"frobnicate\\\""),
        "{}",
        out.stderr
    );
    let out = b.berth(&["kill", "--help"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.starts_with("Usage: berth kill [-a] ID [SIGNAL]"),
        "{}",
        out.stdout
    );
}

/// Copied by cp: a write fd of this process, inherited for a moment by a
/// child another test thread forks, would make its exec fail (ETXTBSY).
fn cp(from: &str, to: &std::path::Path) {
    let st = std::process::Command::new("cp").arg(from).arg(to).status();
    assert!(st.unwrap().success(), "cp {from} {}", to.display());
}

/// A program that is there but cannot run: the kernel's phrase (which
/// clients turn into exit codes), then why, for run and for exec alike.
#[test]
fn a_program_that_cannot_run_says_why() {
    let b = Bundle::new(&["/dyn"]);
    let rootfs = b.path.join("rootfs");
    // The host's ls is dynamically linked; the busybox rootfs has no loader.
    cp("/bin/ls", &rootfs.join("dyn"));
    let id = b.id("dyn");
    let out = b.run(&id);
    assert_ne!(out.code, 0, "{out:?}");
    let want = "exec /dyn: no such file or directory: its ELF interpreter /lib64/ld-linux-x86-64.so.2 is not in the container";
    assert!(out.stderr.contains(want), "{}", out.stderr);
    b.assert_no_leftovers(&id);

    // On a noexec mount: permission denied, and the mount named as why.
    let dir = b.path.join("noexec");
    std::fs::create_dir(&dir).unwrap();
    cp("/bin/busybox", &dir.join("busybox"));
    b.config(|c| {
        c["process"]["args"] = json!(["/mnt/busybox", "true"]);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt", "type": "bind",
            "source": dir, "options": ["bind", "noexec"]
        }));
    });
    let id = b.id("noexec");
    let out = b.run(&id);
    assert_ne!(out.code, 0, "{out:?}");
    let want = "exec /mnt/busybox: permission denied: it is on a noexec mount";
    assert!(out.stderr.contains(want), "{}", out.stderr);
    b.assert_no_leftovers(&id);

    // exec into a running container takes the same path.
    b.config(|c| c["process"]["args"] = json!(["sleep", "30"]));
    let id = b.id("execdyn");
    b.run_detached(&id);
    let out = b.berth(&["exec", &id, "/dyn"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("exec /dyn: no such file or directory: its ELF interpreter"),
        "{}",
        out.stderr
    );
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}
