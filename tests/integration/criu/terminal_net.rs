//! The terminal and the network: a container on a terminal restored to a
//! new console socket, and an established TCP connection in a network
//! namespace the container joins by path, and one of its own left empty
//! (--empty-ns network) for the prestart hook to set up.

use super::{criu_here, images, s, slow, wait_for};
use crate::common::{Bundle, run_with_timeout};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A container on a terminal (process.terminal, --console-socket): its
/// shell, blocked reading the terminal when dumped, answers on the master
/// restore sends to a new console socket.
#[test]
fn a_terminal_comes_back_over_the_console_socket() {
    use std::io::Write;
    use std::os::unix::net::UnixListener;
    if !criu_here("a_terminal_comes_back_over_the_console_socket") {
        return;
    }
    let b = Bundle::sh("while read l; do echo \"got $l\"; done");
    b.config(|c| {
        c["process"]["terminal"] = true.into();
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network");
    });
    let bundle = s(&b.path);
    let id = b.id("criu-tty");
    let sock = b.path.join("tty1.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    b.berth(&[
        "run",
        "-d",
        "--console-socket",
        &s(&sock),
        "-b",
        &bundle,
        &id,
    ])
    .ok();
    let conn = accept(&listener);
    let mut master = std::fs::File::from(crate::common::tty::recv_fd(&conn).1);
    master.write_all(b"one\n").unwrap();
    read_until(&mut master, "got one");
    let img = images(&b, "img");
    // The old master stays open through the dump: its closing would hang
    // the shell up.
    slow(&b, &["checkpoint", "--image-path", &s(&img), &id]).ok();
    drop(master);

    let sock = b.path.join("tty2.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let args = [
        "restore",
        "-d",
        "--console-socket",
        &s(&sock),
        "-b",
        &bundle,
    ];
    let mut cmd = b.cmd(&args);
    cmd.args(["--image-path", &s(&img), &id]);
    let one = super::restoring();
    let restore = std::thread::spawn(move || run_with_timeout(cmd, Duration::from_secs(240)));
    let conn = accept(&listener);
    let mut master = std::fs::File::from(crate::common::tty::recv_fd(&conn).1);
    restore.join().unwrap().ok();
    drop(one);
    master.write_all(b"two\n").unwrap();
    read_until(&mut master, "got two");
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

/// The console socket's connection, waited for (bounded).
#[track_caller]
fn accept(listener: &std::os::unix::net::UnixListener) -> std::os::unix::net::UnixStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        match listener.accept() {
            Ok((conn, _)) => {
                conn.set_nonblocking(false).unwrap();
                return conn;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "berth never connected to the console socket"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Reads the terminal's master until `needle` shows (bounded).
#[track_caller]
fn read_until(master: &mut std::fs::File, needle: &str) {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    while !seen.contains(needle) {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no {needle:?} in {seen:?}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("reading the terminal: {e} (so far {seen:?})"),
        }
    }
    assert!(seen.contains(needle), "no {needle:?} in {seen:?}");
}

/// A network namespace the test made, joined by path: external to the
/// checkpoint and joined again on restore. An established TCP connection
/// inside it (busybox nc over lo) needs --tcp-established, and carries on
/// after the restore.
#[test]
fn an_established_tcp_connection_in_a_joined_netns() {
    if !criu_here("an_established_tcp_connection_in_a_joined_netns") {
        return;
    }
    let netns = Netns::new();
    let b = Bundle::sh(
        "exec </dev/null >/dev/null 2>&1; sleep 100000 | nc -l -p 5000 > /tmp/recv & sleep 1; i=0; while :; do i=$((i+1)); echo $i; sleep 0.2; done | nc 127.0.0.1 5000",
    );
    b.config(|c| {
        c["root"]["readonly"] = false.into();
        for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = s(&netns.path()).into();
            }
        }
    });
    let recv = b.path.join("rootfs/tmp/recv");
    let last = || -> u64 {
        let text = std::fs::read_to_string(&recv).unwrap_or_default();
        text.lines()
            .last()
            .and_then(|l| l.parse().ok())
            .unwrap_or(0)
    };
    let id = b.id("criu-tcp");
    b.run_detached(&id);
    wait_for(|| last() > 2, "the connection carries nothing");
    let img = s(&images(&b, "img"));
    let out = slow(&b, &["checkpoint", "--image-path", &img, &id]);
    assert_ne!(
        out.code, 0,
        "an established connection without --tcp-established"
    );
    assert_eq!(b.status(&id), "running");
    slow(
        &b,
        &["checkpoint", "--tcp-established", "--image-path", &img, &id],
    )
    .ok();
    let dumped = last();
    let bundle = s(&b.path);
    let args = [
        "restore",
        "-d",
        "--tcp-established",
        "-b",
        &bundle,
        "--image-path",
        &img,
        &id,
    ];
    slow(&b, &args).ok();
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap(),
        std::fs::read_link(format!("/proc/{}/ns/net", netns.holder.id())).unwrap(),
        "restored into the network namespace the config joins"
    );
    wait_for(
        || last() > dumped + 2,
        "the restored connection carries nothing",
    );
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

/// A network namespace of the test's own (lo up), held by a sleeping
/// process and reached by its /proc path; ended on drop.
struct Netns {
    holder: std::process::Child,
}

impl Netns {
    fn new() -> Netns {
        let holder = std::process::Command::new("unshare")
            .args(["--net", "sh", "-c", "ip link set lo up && exec sleep 1000"])
            .spawn()
            .unwrap();
        let ns = Netns { holder };
        let mine = std::fs::read_link("/proc/self/ns/net").unwrap();
        wait_for(
            || {
                std::fs::read_link(ns.path()).is_ok_and(|l| l != mine)
                    && std::fs::read_to_string(format!("/proc/{}/comm", ns.holder.id()))
                        .is_ok_and(|c| c.trim() == "sleep")
            },
            "the network namespace's holder never started",
        );
        ns
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.holder.id()))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The addresses on lo in process `pid`'s network namespace.
fn lo_addresses(pid: i64) -> String {
    let out = std::process::Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-n",
            "ip",
            "-o",
            "-4",
            "addr",
            "show",
            "dev",
            "lo",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `--empty-ns network`: a network namespace of the container's own that
/// CRIU neither dumps nor restores. The restored container gets a new,
/// empty one, which the prestart hook sets up (where a CNI plugin would
/// give it its network): the hook's address is there again, the address
/// added to the old namespace is not.
#[test]
fn empty_ns_network_leaves_the_namespace_to_prestart() {
    if !criu_here("empty_ns_network_leaves_the_namespace_to_prestart") {
        return;
    }
    let b = super::counter_in_own_netns("/tmp");
    b.config(|c| {
        c["hooks"]["prestart"] = serde_json::json!([{
            "path": "/bin/sh",
            "args": ["sh", "-c", "pid=$(sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p'); nsenter -t \"$pid\" -n ip addr add 10.7.7.7/32 dev lo"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        }]);
    });
    let file = b.path.join("rootfs/tmp/count");
    let id = b.id("criu-emptyns");
    let pid = b.run_detached(&id);
    super::count_above(&file, 2);
    let added = std::process::Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-n",
            "ip",
            "addr",
            "add",
            "10.9.9.9/32",
            "dev",
            "lo",
        ])
        .status()
        .unwrap();
    assert!(added.success());
    let before = lo_addresses(pid);
    assert!(
        before.contains("10.7.7.7/32") && before.contains("10.9.9.9/32"),
        "{before}"
    );
    let img = s(&images(&b, "img"));
    slow(
        &b,
        &[
            "checkpoint",
            "--empty-ns",
            "network",
            "--image-path",
            &img,
            &id,
        ],
    )
    .ok();
    let dumped = super::read_count(&file).unwrap();
    let bundle = s(&b.path);
    let args = [
        "restore",
        "-d",
        "--empty-ns",
        "network",
        "-b",
        &bundle,
        "--image-path",
        &img,
        &id,
    ];
    slow(&b, &args).ok();
    super::assert_restored(&b, &id);
    super::count_above(&file, dumped);
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    let after = lo_addresses(pid);
    assert!(
        after.contains("10.7.7.7/32"),
        "the prestart hook did not run: {after}"
    );
    assert!(
        !after.contains("10.9.9.9/32"),
        "the old namespace's address came back: {after}"
    );
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}
