//! exec: a new process in a running container, checked from inside it.

use crate::common::tty::{openpty, read_all, spawn_on};
use crate::common::{Bundle, Out, run_with_timeout};
use serde_json::json;
use std::time::Duration;

fn running(name: &str, f: impl FnOnce(&mut serde_json::Value)) -> (Bundle, String) {
    let b = Bundle::new(&["sleep", "1000"]);
    b.config(f);
    let id = b.id(name);
    b.run_detached(&id);
    (b, id)
}

fn exec(b: &Bundle, args: &[&str]) -> Out {
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    b.berth(&all)
}

fn ns(pid: &str, t: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{t}"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn exec_joins_every_namespace_and_the_cgroup() {
    let (b, id) = running("exec-ns", |c| {
        c["hostname"] = "exec-box".into();
        crate::common::own_cgroupns(c);
    });
    let init = b.state(&id)["pid"].as_i64().unwrap().to_string();
    let out = exec(
        &b,
        &[
            &id,
            "sh",
            "-c",
            "echo $$; hostname; for t in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$t; done; cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /proc/self/cgroup | head -1",
        ],
    );
    out.ok();
    let l: Vec<&str> = out.stdout.lines().collect();
    assert_ne!(l[0], "1", "a new process in the container's pid namespace");
    assert_eq!(l[1], "exec-box");
    for (line, t) in l[2..8]
        .iter()
        .zip(["pid", "net", "ipc", "uts", "mnt", "cgroup"])
    {
        assert_eq!(*line, ns(&init, t), "{t}");
    }
    assert_eq!(
        l[8].trim(),
        "sleep 1000",
        "it sees the container's init as pid 1"
    );
    assert!(
        l[9].ends_with(":/"),
        "the container's cgroup, at the root of its cgroup namespace: {}",
        l[9]
    );
    // And it is a child in that namespace: it dies with the container.
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

#[test]
fn exit_status_and_signals() {
    let (b, id) = running("exec-status", |_| {});
    assert_eq!(exec(&b, &[&id, "sh", "-c", "exit 7"]).code, 7);
    assert_eq!(exec(&b, &[&id, "sh", "-c", "kill -9 $$"]).code, 137);
    let out = exec(&b, &[&id, "no-such-program"]);
    assert_eq!(out.code, 255);
    assert!(
        out.stderr.contains("executable file not found"),
        "{}",
        out.stderr
    );
    // A signal to berth reaches the process.
    let log = b.path.join("trap.log");
    let mut child = b
        .cmd(&[
            "exec",
            &id,
            "sh",
            "-c",
            "trap 'echo got-term; exit 4' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if std::fs::read_to_string(&log).unwrap().contains("ready") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(4));
    assert!(std::fs::read_to_string(&log).unwrap().contains("got-term"));
}

#[test]
fn process_settings_from_flags() {
    let (b, id) = running("exec-flags", |c| c["root"]["readonly"] = false.into());
    let out = exec(
        &b,
        &[
            "--user",
            "1000:1001",
            "-g",
            "2000",
            "--env",
            "FOO=bar",
            "--cwd",
            "/tmp",
            "--cap",
            "CAP_CHOWN",
            "--no-new-privs",
            &id,
            "sh",
            "-c",
            "id -u; id -g; id -G; echo $FOO; pwd; grep -E 'CapEff|NoNewPrivs' /proc/self/status",
        ],
    );
    out.ok();
    let l: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        &l[..5],
        ["1000", "1001", "1001 2000", "bar", "/tmp"],
        "{}",
        out.stdout
    );
    // As runc: --cap adds to bounding, effective and permitted (and asks for
    // ambient, which needs inheritable): uid 1000 execs with none in effect.
    assert!(l[5].starts_with("CapEff:"), "{}", out.stdout);
    let eff = u64::from_str_radix(l[5].split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(
        eff & 1,
        0,
        "CAP_CHOWN is not inherited by uid 1000: {}",
        out.stdout
    );
    assert_eq!(l[6], "NoNewPrivs:\t1");
}

#[test]
fn process_json_from_docker() {
    let (b, id) = running("exec-json", |_| {});
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/docker-exec.process.json");
    let mut p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    p["args"] = json!(["sh", "-c", "echo from-json $HOSTNAME; id -u"]);
    p["terminal"] = false.into();
    let f = b.path.join("process.json");
    std::fs::write(&f, p.to_string()).unwrap();
    let out = exec(&b, &["--process", f.to_str().unwrap(), &id]);
    out.ok();
    assert!(out.stdout.starts_with("from-json"), "{}", out.stdout);
}

#[test]
fn many_execs_at_once() {
    let (b, id) = running("exec-many", |_| {});
    let b = std::sync::Arc::new(b);
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let (b, id) = (b.clone(), id.clone());
            std::thread::spawn(move || exec(&b, &[&id, "sh", "-c", &format!("echo {i}")]))
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let out = h.join().unwrap();
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.stdout, format!("{i}\n"));
    }
}

#[test]
fn detach_leaves_no_berth_behind() {
    let (b, id) = running("exec-detach", |_| {});
    let pid_file = b.path.join("exec.pid");
    exec(
        &b,
        &[
            "--detach",
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
            "sleep",
            "500",
        ],
    )
    .ok();
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap(),
        "sleep\x00500\x00"
    );
    let ppid: i32 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let parent = std::fs::read_to_string(format!("/proc/{ppid}/comm")).unwrap_or_default();
    assert!(
        !parent.contains("berth"),
        "the detached process's parent is no berth: {parent}"
    );
    let pids: Vec<i32> =
        serde_json::from_str(&b.berth(&["ps", "--format", "json", &id]).stdout).unwrap();
    assert!(pids.contains(&pid));
}

#[test]
fn paused_and_stopped_containers() {
    let (b, id) = running("exec-paused", |_| {});
    b.berth(&["pause", &id]).ok();
    let out = exec(&b, &[&id, "true"]);
    assert_eq!(out.code, 255);
    assert!(out.stderr.contains("paused"), "{}", out.stderr);
    b.berth(&["resume", &id]).ok();
    b.berth(&["kill", &id, "KILL"]).ok();
    for _ in 0..200 {
        if b.status(&id) == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = exec(&b, &[&id, "true"]);
    assert_eq!(out.code, 255);
    assert!(out.stderr.contains("stopped"), "{}", out.stderr);
}

#[test]
fn exec_in_a_user_namespace_with_the_seccomp_filter() {
    let (b, id) = running("exec-userns", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]});
    });
    let out = exec(
        &b,
        &[
            &id,
            "sh",
            "-c",
            "cat /proc/self/uid_map; id -u; grep Seccomp: /proc/self/status; mkdir /dev/x 2>&1; true",
        ],
    );
    out.ok();
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(&words[..4], ["0", "100000", "65536", "0"], "{}", out.stdout);
    assert!(
        out.stdout.contains("Seccomp:\t2") && out.stdout.contains("Operation not permitted"),
        "{}",
        out.stdout
    );
}

#[test]
fn exec_preserves_fds() {
    use std::os::unix::process::CommandExt;
    let (b, id) = running("exec-fds", |_| {});
    let f = b.path.join("three");
    std::fs::write(&f, "three\n").unwrap();
    let file = std::fs::File::open(&f).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    let mut cmd = b.cmd(&[
        "exec",
        "--preserve-fds",
        "1",
        &id,
        "sh",
        "-c",
        "cat <&3; ls /proc/self/fd | wc -l",
    ]);
    unsafe {
        cmd.pre_exec(move || {
            let moved = libc::fcntl(raw, libc::F_DUPFD, 10);
            libc::dup2(moved, 3);
            Ok(())
        });
    }
    let out = run_with_timeout(cmd, Duration::from_secs(60));
    out.ok();
    assert_eq!(
        out.stdout, "three\n5\n",
        "0-2, 3 and ls's own: {}",
        out.stdout
    );
}

#[test]
fn tty_through_a_real_pty_with_resize() {
    use std::io::{Read, Write};
    let (b, id) = running("exec-tty", |_| {});
    // berth's stdin/stdout/stderr are a pty of this test, like a terminal.
    let (mut master, slave) = openpty(24, 80);
    let mut child = spawn_on(b.cmd(&["exec", "-t", &id, "sh"]), slave);
    let mut seen = String::new();
    let read_until = |master: &mut std::fs::File, want: &str, seen: &mut String| {
        let mut buf = [0u8; 4096];
        for _ in 0..200 {
            if seen.contains(want) {
                return;
            }
            let n = master.read(&mut buf).unwrap_or(0);
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        panic!("never saw {want:?} in {seen:?}");
    };
    master
        .write_all(b"stty size; echo typed-$((6*7))\r")
        .unwrap();
    read_until(&mut master, "typed-42", &mut seen);
    assert!(seen.contains("24 80"), "{seen}");
    // A resize of the outer terminal reaches the inner one (SIGWINCH).
    let ws = libc::winsize {
        ws_row: 33,
        ws_col: 101,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&master),
            libc::TIOCSWINSZ,
            &ws,
        )
    };
    std::thread::sleep(Duration::from_millis(200));
    master.write_all(b"stty size; exit 3\r").unwrap();
    read_until(&mut master, "33 101", &mut seen);
    assert_eq!(child.wait().unwrap().code(), Some(3));
}

#[test]
fn run_relays_its_terminal_without_a_console_socket() {
    use std::io::Write;
    let b = Bundle::new(&["sh"]);
    b.config(|c| c["process"]["terminal"] = true.into());
    let (mut master, slave) = openpty(30, 90);
    let id = b.id("run-tty");
    let bundle = b.path.to_str().unwrap().to_string();
    let mut child = spawn_on(b.cmd(&["run", "--bundle", &bundle, &id]), slave);
    master
        .write_all(b"stty size; tty; ls -l /dev/console | cut -c1; exit 0\r")
        .unwrap();
    let seen = read_all(&mut master);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(seen.contains("30 90"), "{seen}");
    assert!(seen.contains("/dev/pts/0"), "{seen}");
    assert!(
        seen.contains("\r\nc\r\n"),
        "/dev/console is the pty (a char device): {seen}"
    );
    b.assert_no_leftovers(&id);
}

#[test]
fn exec_into_a_sub_cgroup() {
    let (b, id) = running("exec-subcg", crate::common::host_cgroupns);
    // The sub-cgroup, in every hierarchy, made by whoever manages it.
    for d in b.cgroup_dirs(&format!("/berth/{id}/sub")) {
        std::fs::create_dir_all(&d).unwrap();
        if d.starts_with("/sys/fs/cgroup/cpuset/") {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let v = std::fs::read_to_string(d.parent().unwrap().join(f)).unwrap();
                std::fs::write(d.join(f), v.trim()).unwrap();
            }
        }
    }
    let out = exec(&b, &["--cgroup", "sub", &id, "cat", "/proc/self/cgroup"]);
    out.ok();
    assert!(
        out.stdout
            .lines()
            .all(|l| l.ends_with(&format!("/berth/{id}/sub"))),
        "{}",
        out.stdout
    );
    assert_eq!(exec(&b, &["--cgroup", "../escape", &id, "true"]).code, 255);
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

#[test]
fn ignore_paused_execs_once_resumed() {
    let (b, id) = running("exec-ignore-paused", |c| {
        c["root"]["readonly"] = false.into()
    });
    b.berth(&["pause", &id]).ok();
    // The new process joins the frozen cgroup: it runs once resumed.
    let child = b
        .cmd(&[
            "exec",
            "--ignore-paused",
            &id,
            "sh",
            "-c",
            "echo ran > /ran",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!b.path.join("rootfs/ran").exists());
    b.berth(&["resume", &id]).ok();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(b.path.join("rootfs/ran")).unwrap(),
        "ran\n"
    );
}
