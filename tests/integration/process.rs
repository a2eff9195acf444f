//! process: args, env, cwd, user, capabilities, rlimits, fds, terminal.

use crate::common::Bundle;
use serde_json::json;

fn status_field(out: &str, key: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("{key} in {out}"))
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn env_cwd_and_path_lookup() {
    let b = Bundle::sh("echo $FOO; pwd; echo $PATH");
    b.config(|c| {
        c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
        c["process"]["cwd"] = "/made/for/you".into();
        c["root"]["readonly"] = false.into();
    });
    let out = b.run(&b.id("env"));
    out.ok();
    assert_eq!(out.stdout, "bar baz\n/made/for/you\n/bin\n");
}

#[test]
fn user_groups_and_umask() {
    let b = Bundle::sh("id -u; id -g; id -G; umask; touch /tmp/f; stat -c %a /tmp/f");
    b.config(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [2000, 2001], "umask": 0o077});
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}));
    });
    let out = b.run(&b.id("user"));
    out.ok();
    let l: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(l[0], "1000");
    assert_eq!(l[1], "1001");
    assert_eq!(
        l[2].split_whitespace().collect::<Vec<_>>(),
        ["1001", "2000", "2001"]
    );
    assert_eq!(l[3], "0077");
    assert_eq!(l[4], "600");
}

#[test]
fn capabilities_are_exactly_the_configured_sets() {
    let b = Bundle::new(&["cat", "/proc/self/status"]);
    b.config(|c| {
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL"]
        });
    });
    let out = b.run(&b.id("caps"));
    out.ok();
    assert_eq!(
        status_field(&out.stdout, "CapBnd"),
        format!("{:016x}", (1u64 << 0) | (1 << 5) | (1 << 13))
    );
    assert_eq!(
        status_field(&out.stdout, "CapEff"),
        format!("{:016x}", (1u64 << 0) | (1 << 5))
    );
    assert_eq!(
        status_field(&out.stdout, "CapPrm"),
        format!("{:016x}", (1u64 << 0) | (1 << 5))
    );
    assert_eq!(
        status_field(&out.stdout, "CapInh"),
        format!("{:016x}", 1u64 << 5)
    );
    assert_eq!(
        status_field(&out.stdout, "CapAmb"),
        format!("{:016x}", 1u64 << 5)
    );
    assert_eq!(status_field(&out.stdout, "NoNewPrivs"), "1");
}

#[test]
fn a_dropped_capability_really_is_gone() {
    // Default caps lack CAP_CHOWN and CAP_SYS_ADMIN: chown and mount fail.
    let b = Bundle::sh("touch /tmp/f; chown 1:1 /tmp/f 2>&1; mount -t tmpfs t /mnt 2>&1; echo end");
    b.config(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs"}));
    });
    let out = b.run(&b.id("nocap"));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "chown: /tmp/f: Operation not permitted");
    assert!(
        lines[1].starts_with("mount: permission denied"),
        "{}",
        out.stdout
    );
}

#[test]
fn rlimits_are_set() {
    let b = Bundle::sh("ulimit -n; ulimit -Hn; ulimit -c");
    b.config(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 777},
            {"type": "RLIMIT_CORE", "soft": 4096, "hard": 8192}
        ]);
    });
    let out = b.run(&b.id("rlimits"));
    out.ok();
    assert_eq!(out.stdout, "512\n777\n8\n", "core is in 512-byte blocks");
}

#[test]
fn only_stdio_reaches_the_container() {
    let b = Bundle::sh("ls /proc/self/fd");
    let out = b.run(&b.id("fds"));
    out.ok();
    // 0, 1, 2 and the fd ls itself opens to read the directory.
    let fds: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(fds, ["0", "1", "2", "3"], "{}", out.stdout);
}

#[test]
fn preserve_fds_passes_exactly_those() {
    use std::os::unix::process::CommandExt;
    let b = Bundle::sh("ls /proc/self/fd; cat <&3; cat <&4");
    let f3 = b.path.join("three");
    let f4 = b.path.join("four");
    std::fs::write(&f3, "three\n").unwrap();
    std::fs::write(&f4, "four\n").unwrap();
    let id = b.id("preserve");
    let bundle = b.path.to_str().unwrap().to_string();
    let a = std::fs::File::open(&f3).unwrap();
    let c = std::fs::File::open(&f4).unwrap();
    let mut cmd = b.cmd(&["run", "--preserve-fds", "2", "--bundle", &bundle, &id]);
    let (ra, rc) = (
        std::os::fd::AsRawFd::as_raw_fd(&a),
        std::os::fd::AsRawFd::as_raw_fd(&c),
    );
    unsafe {
        cmd.pre_exec(move || {
            // Out of the way first: either may already be 3 or 4.
            let (a2, c2) = (
                libc::fcntl(ra, libc::F_DUPFD, 10),
                libc::fcntl(rc, libc::F_DUPFD, 10),
            );
            libc::dup2(a2, 3);
            libc::dup2(c2, 4);
            Ok(())
        });
    }
    let out = crate::common::run_with_timeout(cmd, std::time::Duration::from_secs(60));
    out.ok();
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(&words[..5], ["0", "1", "2", "3", "4"], "{}", out.stdout);
    assert!(
        !words.contains(&"6"),
        "nothing past the preserved fds and ls's own: {}",
        out.stdout
    );
    assert!(out.stdout.ends_with("three\nfour\n"));
}

#[test]
fn oom_score_adj_is_set() {
    let b = Bundle::new(&["cat", "/proc/self/oom_score_adj"]);
    b.config(|c| c["process"]["oomScoreAdj"] = 500.into());
    let out = b.run(&b.id("oomadj"));
    out.ok();
    assert_eq!(out.stdout, "500\n");
}

#[test]
fn berth_code_in_the_container_is_not_dumpable() {
    // While created, the container process still runs berth's code, already
    // as uid 1000. A dumpable process's /proc/PID files belong to its uid;
    // berth's stay root's, so no process in the container can open its
    // /proc/PID/exe (CVE-2019-5736).
    let b = Bundle::new(&["sleep", "1000"]);
    b.config(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000}));
    let id = b.id("dumpable");
    b.create(&id).ok();
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status.lines().any(|l| l.starts_with("Uid:\t1000")),
        "{status}"
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(format!("/proc/{pid}/environ"))
            .unwrap()
            .uid(),
        0
    );
    // After exec the user's program is dumpable again, as any program.
    b.berth(&["start", &id]).ok();
    assert_eq!(
        std::fs::metadata(format!("/proc/{pid}/environ"))
            .unwrap()
            .uid(),
        1000
    );
}

#[test]
fn terminal_through_the_console_socket() {
    use std::os::unix::net::UnixListener;
    let b = Bundle::sh("tty; stty size; ls -l /dev/console | cut -c1");
    b.config(|c| {
        c["process"]["terminal"] = true.into();
        c["process"]["consoleSize"] = json!({"height": 33, "width": 77});
    });
    let sock = b.path.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = b.id("tty");
    let bundle = b.path.to_str().unwrap().to_string();
    let receiver = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        crate::common::tty::recv_fd(&conn).1
    });
    let mut child = b
        .cmd(&[
            "run",
            "--console-socket",
            sock.to_str().unwrap(),
            "--bundle",
            &bundle,
            &id,
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let master = receiver.join().unwrap();
    let text = crate::common::tty::read_all(&mut std::fs::File::from(master));
    assert!(child.wait().unwrap().success());
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("33 77"), "{text}");
}

#[test]
fn socket_activation_fds_pass_with_listen_env() {
    let b = Bundle::sh("echo $LISTEN_FDS $LISTEN_PID; cat <&3; ls /proc/self/fd | tr '\\n' ' '");
    let f = b.path.join("sock-standin");
    std::fs::write(&f, "activated\n").unwrap();
    let id = b.id("listen");
    let bundle = b.path.to_str().unwrap().to_string();
    // LISTEN_PID must name berth itself: exec from a shell that sets it.
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(format!(
            "exec 3<{}; export LISTEN_FDS=1 LISTEN_PID=$$; exec {} --root {} run --bundle {} {}",
            f.display(),
            crate::common::berth_bin(),
            b.root.display(),
            bundle,
            id
        ))
        .stdin(std::process::Stdio::null());
    let out = crate::common::run_with_timeout(cmd, std::time::Duration::from_secs(60));
    out.ok();
    let l: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        l[0], "1 1",
        "LISTEN_PID is the program's own pid: {}",
        out.stdout
    );
    assert_eq!(l[1], "activated");
    assert_eq!(
        l[2].split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2", "3", "4"],
        "{}",
        out.stdout
    );
}

#[test]
fn runc_default_spec_runs_as_is_with_a_console_socket() {
    use std::io::Write;
    use std::os::unix::net::UnixListener;
    let b = Bundle::new(&["sh"]);
    // Back to exactly what `berth spec` wrote: terminal true, args ["sh"].
    std::fs::remove_file(b.path.join("config.json")).unwrap();
    let bundle = b.path.to_str().unwrap().to_string();
    b.berth(&["spec", "--bundle", &bundle]).ok();
    assert_eq!(b.read_config()["process"]["terminal"], true);
    let sock = b.path.join("tty.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = b.id("asis");
    let mut child = b
        .cmd(&[
            "run",
            "--console-socket",
            sock.to_str().unwrap(),
            "--bundle",
            &bundle,
            &id,
        ])
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let mut master = std::fs::File::from(crate::common::tty::recv_fd(&conn).1);
    master
        .write_all(b"echo hi from $(hostname); exit 3\n")
        .unwrap();
    let text = crate::common::tty::read_all(&mut master);
    assert_eq!(child.wait().unwrap().code(), Some(3));
    assert!(text.contains("hi from berth"), "{text}");
}

#[test]
fn the_container_gets_its_own_session_keyring() {
    // /proc/keys is masked in the container; look from the host while it
    // runs: its session keyring is named after the container.
    let b = Bundle::new(&["sleep", "1000"]);
    let id = b.id("keyring");
    b.run_detached(&id);
    let keys = std::fs::read_to_string("/proc/keys").unwrap();
    assert!(
        keys.lines()
            .any(|l| l.contains("keyring") && l.ends_with(&format!("{id}: empty"))),
        "{keys}"
    );
    let id2 = b.id("nokeyring");
    let bundle = b.path.to_str().unwrap().to_string();
    b.berth(&["run", "-d", "--no-new-keyring", "--bundle", &bundle, &id2])
        .ok();
    let keys = std::fs::read_to_string("/proc/keys").unwrap();
    assert!(!keys.contains(&id2), "{keys}");
}
