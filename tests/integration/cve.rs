//! The attacks that hit runc, reproduced against berth: each must fail.

use crate::common::Bundle;
use serde_json::json;
use std::time::Duration;

fn berth_hash() -> Vec<u8> {
    std::fs::read(crate::common::berth_bin()).unwrap()
}

/// CVE-2019-5736: the container gets berth's binary exec'd in it through
/// /proc/self/exe (a symlink, or a script's interpreter), then writes to it.
#[test]
fn cve_2019_5736_berth_never_runs_in_the_container() {
    let before = berth_hash();
    let b = Bundle::new(&["sleep", "1000"]);
    let bin = b.path.join("rootfs/bin");
    std::os::unix::fs::symlink("/proc/self/exe", bin.join("evil")).unwrap();
    std::fs::write(bin.join("evil.sh"), "#!/proc/self/exe\n").unwrap();
    std::fs::write(bin.join("nested.sh"), "#!/bin/evil.sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    for f in ["evil.sh", "nested.sh"] {
        std::fs::set_permissions(bin.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let id = b.id("cve5736");
    b.run_detached(&id);
    for prog in [
        "/bin/evil",
        "/bin/evil.sh",
        "/bin/nested.sh",
        "/proc/self/exe",
    ] {
        let out = b.berth(&["exec", &id, prog]);
        assert_eq!(out.code, 255, "{prog}: {out:?}");
        assert!(
            out.stderr.contains("CVE-2019-5736"),
            "{prog}: {}",
            out.stderr
        );
    }
    // As the container's own program, too.
    let b2 = Bundle::new(&["/bin/evil"]);
    std::os::unix::fs::symlink("/proc/self/exe", b2.path.join("rootfs/bin/evil")).unwrap();
    let out = b2.create(&b2.id("cve5736-init"));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("CVE-2019-5736"), "{}", out.stderr);
    assert_eq!(berth_hash(), before);
}

/// The same, raced: a process in the container keeps swapping /bin/x
/// between a real program and a symlink to /proc/self/exe while berth
/// execs /bin/x. berth must never end up running as /bin/x.
#[test]
fn cve_2019_5736_raced() {
    let b = Bundle::sh(
        "cp /bin/busybox /bin/x-real; ln -s /proc/self/exe /bin/x-evil; \
         while :; do cp /bin/x-real /bin/x.new; mv -f /bin/x.new /bin/x; ln -sf /proc/self/exe /bin/x.lnk; mv -f /bin/x.lnk /bin/x; done",
    );
    b.config(|c| c["root"]["readonly"] = false.into());
    let id = b.id("cve5736-race");
    b.run_detached(&id);
    std::thread::sleep(Duration::from_millis(200));
    let (mut ran, mut refused) = (0, 0);
    for _ in 0..60 {
        let out = b.berth(&["exec", &id, "/bin/x", "true"]);
        // berth's own binary would answer with its usage text.
        assert!(
            !out.stderr.contains("Usage: ") && !out.stdout.contains("berth"),
            "berth ran in the container: {out:?}"
        );
        match out.code {
            0 => ran += 1,
            _ => refused += 1,
        }
    }
    assert!(ran + refused == 60);
}

/// CVE-2021-30465: a mount destination swapped for a symlink out of the
/// rootfs (RENAME_EXCHANGE) while containers are created.
#[test]
fn cve_2021_30465_symlink_exchange_race() {
    let b = Bundle::new(&["true"]);
    let outside = b.path.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let rootfs = b.path.join("rootfs");
    std::fs::create_dir_all(rootfs.join("a")).unwrap();
    std::os::unix::fs::symlink(&outside, rootfs.join("b")).unwrap();
    let leak = b.path.join("leaked");
    // In the container's mount namespace, before pivot_root: is anything
    // mounted on the host's `outside`?
    b.config(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/a", "type": "tmpfs", "source": "tmpfs"}));
        c["hooks"] = json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c",
            format!("grep -q ' {} ' /proc/self/mountinfo && touch {} || true", outside.display(), leak.display())]}]});
    });
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (s2, root2) = (stop.clone(), rootfs.clone());
    let racer = std::thread::spawn(move || {
        let dir = std::fs::File::open(&root2).unwrap();
        use std::os::fd::AsRawFd;
        let mut swaps = 0u64;
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            unsafe {
                libc::syscall(
                    libc::SYS_renameat2,
                    dir.as_raw_fd(),
                    c"a".as_ptr(),
                    dir.as_raw_fd(),
                    c"b".as_ptr(),
                    libc::RENAME_EXCHANGE,
                );
            }
            swaps += 1;
        }
        swaps
    });
    for i in 0..40 {
        let id = b.id(&format!("race{i}"));
        let _ = b.create(&id);
        let _ = b.berth(&["delete", "--force", &id]);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(racer.join().unwrap() > 1000, "the racer really raced");
    assert!(!leak.exists(), "a mount landed outside the rootfs");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing was created outside the rootfs"
    );
}

/// CVE-2024-21626: a cwd reached through a file descriptor berth leaked.
#[test]
fn cve_2024_21626_cwd_through_a_leaked_fd() {
    for n in 3..9 {
        let b = Bundle::new(&["pwd"]);
        b.config(|c| c["process"]["cwd"] = format!("/proc/self/fd/{n}").into());
        let out = b.run(&b.id("cve21626"));
        assert_ne!(out.code, 0, "cwd /proc/self/fd/{n}: {out:?}");
        assert!(
            !out.stdout.starts_with("/sys/fs/cgroup") && !out.stdout.contains("(unreachable)"),
            "{out:?}"
        );
    }
    let b = Bundle::new(&["sleep", "1000"]);
    let id = b.id("cve21626-exec");
    b.run_detached(&id);
    for n in 3..9 {
        let out = b.berth(&["exec", "--cwd", &format!("/proc/self/fd/{n}"), &id, "pwd"]);
        assert_eq!(out.code, 255, "{out:?}");
    }
}

/// CVE-2025-31133: the rootfs's /dev/null is a symlink to a procfs file, so
/// that masking a path would bind that file instead.
#[test]
fn cve_2025_31133_dev_null_replaced_by_a_symlink() {
    let before = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let b = Bundle::new(&["true"]);
    let dev = b.path.join("devdir");
    std::fs::create_dir_all(&dev).unwrap();
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", dev.join("null")).unwrap();
    b.config(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.retain(|m| {
            m["destination"] != "/dev" && !m["destination"].as_str().unwrap().starts_with("/dev/")
        });
        m.push(json!({"destination": "/dev", "type": "bind", "source": dev, "options": ["rbind"]}));
        c["linux"]["maskedPaths"] = json!(["/proc/kcore", "/proc/keys"]);
    });
    let id = b.id("cve31133");
    let out = b.create(&id);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("/dev/null") && out.stderr.contains("not the null device"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before
    );
    b.assert_no_leftovers(&id);
}

/// CVE-2025-52565: /dev/console, the target berth binds the pty onto, is a
/// symlink to a procfs file.
#[test]
fn cve_2025_52565_dev_console_symlink() {
    use std::os::unix::net::UnixListener;
    let b = Bundle::new(&["true"]);
    let dev = b.path.join("devdir");
    std::fs::create_dir_all(dev.join("pts")).unwrap();
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", dev.join("console")).unwrap();
    std::os::unix::fs::symlink("pts/ptmx", dev.join("ptmx")).unwrap();
    b.config(|c| {
        c["process"]["terminal"] = true.into();
        let m = c["mounts"].as_array_mut().unwrap();
        m.retain(|m| m["destination"] != "/dev");
        m.insert(
            1,
            json!({"destination": "/dev", "type": "bind", "source": dev, "options": ["rbind"]}),
        );
        c["linux"]["maskedPaths"] = json!([]);
    });
    let sock = b.path.join("console.sock");
    let _l = UnixListener::bind(&sock).unwrap();
    let id = b.id("cve52565");
    let bundle = b.path.to_str().unwrap().to_string();
    let out = b.berth(&[
        "create",
        "--console-socket",
        sock.to_str().unwrap(),
        "--bundle",
        &bundle,
        &id,
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("/dev/console") && out.stderr.contains("not a regular file"),
        "{}",
        out.stderr
    );
    b.assert_no_leftovers(&id);
}

/// CVE-2025-52881: a sysctl write redirected by a mount the config puts
/// over /proc/sys: berth writes through a procfs of its own.
#[test]
fn cve_2025_52881_procfs_write_redirected_by_a_mount() {
    let b = Bundle::new(&["cat", "/proc/sys/kernel/domainname"]);
    let trap = b.path.join("trap");
    std::fs::write(&trap, "").unwrap();
    b.config(|c| {
        // /proc first, then a file of ours over the sysctl berth will write.
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/proc/sys/kernel/domainname", "type": "bind", "source": trap, "options": ["bind"]}));
        c["linux"]["sysctl"] = json!({"kernel.domainname": "written-right"});
        c["linux"]["readonlyPaths"] = json!([]);
    });
    let out = b.run(&b.id("cve52881"));
    out.ok();
    assert_eq!(
        std::fs::read_to_string(&trap).unwrap(),
        "",
        "the write went around the mount"
    );
    // The real sysctl (the container's uts namespace) has the value.
    let b2 = Bundle::new(&["cat", "/proc/sys/kernel/domainname"]);
    b2.config(|c| c["linux"]["sysctl"] = json!({"kernel.domainname": "written-right"}));
    assert_eq!(b2.run(&b2.id("cve52881-real")).stdout, "written-right\n");
}
