//! checkpoint and restore through CRIU (issue 16): a counting container
//! dumped and brought back counts on from where it was, in its cgroup with
//! the bundle's limits; --leave-running, a pre-dump and a dump on it, a
//! bind volume and a tmpfs, a new id, a terminal, a network namespace of
//! its own and one joined by path with an established TCP connection; the
//! errors found before CRIU runs, with nothing left behind; the flags
//! that go to CRIU, its bound and a paused container (flags.rs); a
//! restore in the foreground, the hooks and --lsm-profile (lifecycle.rs);
//! a page server and a lazy migration (migration.rs); a network namespace
//! left empty (terminal_net.rs); and podman checkpointing and restoring
//! with berth as its runtime (podman.rs).
//!
//! Debian 12's CRIU 3.17 cannot start on the 6.18 kernel of these hosts
//! (kerndat_vdso_fill_symtable fails), so the tests that need CRIU run
//! where the guest of `make test-v2` runs them: V2G_GUEST=1, which
//! scripts/v2-guest.sh sets (with the modules CRIU probes loaded). There
//! they must pass; elsewhere they say why they did not run. The error
//! tests need no CRIU and run everywhere.

use crate::common::{Bundle, Out, run_with_timeout};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod flags;
mod lifecycle;
mod migration;
mod podman;
mod terminal_net;

/// CRIU works here (the v2 guest); false after saying why not.
fn criu_here(test: &str) -> bool {
    if std::env::var_os("V2G_GUEST").is_some() {
        return true;
    }
    eprintln!(
        "{test}: not run: CRIU 3.17 cannot start on this host's kernel; make test-v2 runs it in its guest"
    );
    false
}

/// A container that counts in memory and writes each count to DIR/count
/// (renamed into place: a read, or a dump, never finds it half written),
/// and a line to DIR/starts when it starts (a restored process does not
/// start again),
/// its stdio the container's own /dev/null (CRIU dumps no fd of the
/// host's), sharing the host's network namespace.
fn counter(dir: &str) -> Bundle {
    let b = counter_in_own_netns(dir);
    b.config(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network");
    });
    b
}

/// The counter in /tmp, run detached as `name` and counting: the bundle,
/// the count's file on the host, the container's id.
fn counting(name: &str) -> (Bundle, PathBuf, String) {
    let b = counter("/tmp");
    let file = b.path.join("rootfs/tmp/count");
    let id = b.id(name);
    b.run_detached(&id);
    count_above(&file, 2);
    (b, file, id)
}

/// The counter with `berth spec`'s network namespace of its own.
fn counter_in_own_netns(dir: &str) -> Bundle {
    let b = Bundle::sh(&format!(
        "exec </dev/null >/dev/null 2>&1; echo started >> {dir}/starts; i=0; while :; do i=$((i+1)); echo $i > {dir}/count.new; mv {dir}/count.new {dir}/count; sleep 0.2; done"
    ));
    b.config(|c| {
        c["linux"]["resources"]["pids"] = json!({"limit": 99});
        // The count is read from the host in the rootfs's /tmp.
        c["root"]["readonly"] = false.into();
    });
    b
}

/// berth with a bound long enough for CRIU under TCG.
fn slow(b: &Bundle, args: &[&str]) -> Out {
    let _one = (args.first() == Some(&"restore")).then(restoring);
    run_with_timeout(b.cmd(args), Duration::from_secs(240))
}

/// `berth ARGS` with its fd 3 opened by a shell (`redirect` is `>` or
/// `<`, on `path`): no fd of this multi-threaded test is inherited by
/// chance.
fn with_fd3(b: &Bundle, redirect: &str, path: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("exec \"$@\" 3{redirect}\"$FD3\""))
        .arg("sh")
        .arg(crate::common::berth_bin())
        .arg("--root")
        .arg(&b.root)
        .args(args)
        .env("FD3", path)
        .stdin(std::process::Stdio::null());
    cmd
}

/// Held by each test while CRIU restores: one restore at a time. CRIU
/// 3.17 names the sockets that pass fds between the tasks it restores
/// after their pids in the container's pid namespace ("crtools-fd-1-0"),
/// abstract sockets of the task's network namespace; two containers that
/// share the host's, restored at once, collide ("Can't bind transport
/// socket /crtools-fd-1-0: Address already in use"). runc meets the same;
/// later CRIUs add a run id to the names.
fn restoring() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

fn read_count(file: &Path) -> Option<u64> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Waits (bounded) until the count in `file` is above `n`; returns it.
#[track_caller]
fn count_above(file: &Path, n: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(c) = read_count(file).filter(|&c| c > n) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "the count in {} stayed at {:?}, not above {n}",
            file.display(),
            read_count(file)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (bounded) for `ok`.
#[track_caller]
pub(super) fn wait_for(ok: impl Fn() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The counter's process started once: what counts after a restore is
/// the dumped process, not a new one.
#[track_caller]
fn assert_started_once(count: &Path) {
    let starts = std::fs::read_to_string(count.with_file_name("starts")).unwrap();
    assert_eq!(starts, "started\n", "the counter started again");
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// `restore -d -b BUNDLE --image-path IMG ID`, with CRIU's bound.
fn restore_detached(b: &Bundle, img: &Path, id: &str) -> Out {
    let bundle = s(&b.path);
    slow(
        b,
        &["restore", "-d", "-b", &bundle, "--image-path", &s(img), id],
    )
}

/// Restores `id` from `img`, detached, and checks it as restored: in its
/// cgroup with its limits, counting on from `dumped`, not started again.
#[track_caller]
fn restore_counts_on(b: &Bundle, img: &Path, id: &str, file: &Path, dumped: u64) {
    restore_detached(b, img, id).ok();
    assert_restored(b, id);
    count_above(file, dumped);
    assert_started_once(file);
}

/// A directory beside the bundle for images.
fn images(b: &Bundle, name: &str) -> PathBuf {
    b.path.parent().unwrap().join(name)
}

/// The restored container: running, its process in /berth/ID with the
/// bundle's pids limit.
#[track_caller]
fn assert_restored(b: &Bundle, id: &str) {
    let st = b.state(id);
    assert_eq!(st["status"], "running", "{st}");
    let pid = st["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cg.trim(), format!("0::/berth/{id}"));
    let max = std::fs::read_to_string(format!("/sys/fs/cgroup/berth/{id}/pids.max")).unwrap();
    assert_eq!(max.trim(), "99");
}

#[test]
fn a_restored_counter_counts_on_from_where_it_was() {
    if !criu_here("a_restored_counter_counts_on_from_where_it_was") {
        return;
    }
    let (b, file, id) = counting("criu-count");
    count_above(&file, 3);
    let img = images(&b, "img");
    slow(&b, &["checkpoint", "--image-path", &s(&img), &id]).ok();
    // Destroyed, as runc does: no state, no cgroup; the count stands still.
    assert!(!b.root.join(&id).exists(), "checkpoint left the state");
    assert!(!Path::new(&format!("/sys/fs/cgroup/berth/{id}")).exists());
    assert!(img.join("inventory.img").is_file());
    let dumped = read_count(&file).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        read_count(&file),
        Some(dumped),
        "still counting after the dump"
    );

    let bundle = s(&b.path);
    slow(
        &b,
        &[
            "restore",
            "--detach",
            "--bundle",
            &bundle,
            "--image-path",
            &s(&img),
            &id,
        ],
    )
    .ok();
    assert_restored(&b, &id);
    // On from the dumped count (a fresh start would write 1, 2, ...).
    let first = count_above(&file, dumped);
    count_above(&file, first);
    assert_started_once(&file);
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

/// In a network namespace of its own (CRIU dumps it: its links, and its
/// conntrack table through nf_conntrack_netlink, which the guest loads).
#[test]
fn leave_running_then_restore_under_a_new_id() {
    if !criu_here("leave_running_then_restore_under_a_new_id") {
        return;
    }
    let b = counter_in_own_netns("/tmp");
    let file = b.path.join("rootfs/tmp/count");
    let id = b.id("criu-leave");
    let pid = b.run_detached(&id);
    count_above(&file, 2);
    let img = images(&b, "img");
    slow(
        &b,
        &[
            "checkpoint",
            "--leave-running",
            "--image-path",
            &s(&img),
            &id,
        ],
    )
    .ok();
    assert_eq!(b.status(&id), "running");
    assert_eq!(b.state(&id)["pid"].as_i64(), Some(pid));
    let n = read_count(&file).unwrap();
    count_above(&file, n);
    b.berth(&["delete", "--force", &id]).ok();

    let new = b.id("criu-new");
    restore_detached(&b, &img, &new).ok();
    assert_restored(&b, &new);
    let n = count_above(&file, 0);
    count_above(&file, n);
    assert_started_once(&file);
    b.berth(&["delete", "--force", &new]).ok();
    b.assert_no_leftovers(&new);
    b.assert_no_leftovers(&id);
}

#[test]
fn a_pre_dump_then_a_dump_on_it() {
    if !criu_here("a_pre_dump_then_a_dump_on_it") {
        return;
    }
    let (b, file, id) = counting("criu-pre");
    let dir = images(&b, "images");
    let (pre, last) = (dir.join("pre"), dir.join("last"));
    slow(
        &b,
        &["checkpoint", "--pre-dump", "--image-path", &s(&pre), &id],
    )
    .ok();
    assert_eq!(b.status(&id), "running", "a pre-dump leaves it running");
    let n = read_count(&file).unwrap();
    count_above(&file, n);
    let out = slow(
        &b,
        &[
            "checkpoint",
            "--image-path",
            &s(&last),
            "--parent-path",
            "../pre",
            &id,
        ],
    );
    out.ok();
    // CRIU links the dump to the pre-dump it took pages from.
    assert_eq!(
        std::fs::read_link(last.join("parent")).unwrap(),
        Path::new("../pre")
    );
    assert!(!b.root.join(&id).exists());
    let dumped = read_count(&file).unwrap();
    restore_counts_on(&b, &last, &id, &file, dumped);
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

/// A host directory bound at /data and a tmpfs at /scratch: the bind is
/// bound again on restore (not dumped; its mount point, gone from the
/// rootfs, made again), the tmpfs's files come back.
#[test]
fn a_bind_volume_and_a_tmpfs_come_back() {
    if !criu_here("a_bind_volume_and_a_tmpfs_come_back") {
        return;
    }
    let b = counter("/data");
    let vol = b.path.parent().unwrap().join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    b.config(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "type": "bind", "source": s(&vol), "options": ["rbind", "rw"]}));
        m.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m"]}));
        let args = c["process"]["args"][2].as_str().unwrap().to_string();
        c["process"]["args"][2] = format!("echo kept > /scratch/note; {args}").into();
    });
    let file = vol.join("count");
    let id = b.id("criu-vol");
    b.run_detached(&id);
    count_above(&file, 2);
    let img = images(&b, "img");
    slow(&b, &["checkpoint", "--image-path", &s(&img), &id]).ok();
    let dumped = read_count(&file).unwrap();
    // A rootfs that never ran the container (as an imported one): the
    // bind's mount point is made again on restore, as runc makes it.
    std::fs::remove_dir(b.path.join("rootfs/data")).unwrap();
    restore_counts_on(&b, &img, &id, &file, dumped);
    let out = b.berth(&["exec", &id, "cat", "/scratch/note"]);
    assert_eq!(out.ok().stdout, "kept\n");
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

/// runc's checkpoint.bats cases of binds: one nested in another, whose
/// mount point in the outer volume is gone by the restore (made again), and
/// one whose destination in the rootfs is a symlink (resolved in the
/// rootfs, as at create).
#[test]
fn nested_binds_and_a_bind_over_a_symlink_come_back() {
    if !criu_here("nested_binds_and_a_bind_over_a_symlink_come_back") {
        return;
    }
    let b = counter("/test/for/nested");
    let dir = b.path.parent().unwrap().to_path_buf();
    let (outer, inner, conf) = (dir.join("outer"), dir.join("inner"), dir.join("conf"));
    for d in [&outer, &inner, &conf] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(conf.join("setting"), "on\n").unwrap();
    std::fs::create_dir_all(b.path.join("rootfs/real/conf")).unwrap();
    std::os::unix::fs::symlink("/real/conf", b.path.join("rootfs/conf")).unwrap();
    b.config(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        for (src, dest) in [(&outer, "/test"), (&inner, "/test/for/nested"), (&conf, "/conf")] {
            m.push(json!({"destination": dest, "type": "bind", "source": s(src), "options": ["rbind", "rw"]}));
        }
    });
    let file = inner.join("count");
    let id = b.id("criu-nested");
    b.run_detached(&id);
    count_above(&file, 2);
    let img = images(&b, "img");
    slow(&b, &["checkpoint", "--image-path", &s(&img), &id]).ok();
    let dumped = read_count(&file).unwrap();
    // The mount points berth made in the outer volume, gone.
    std::fs::remove_dir_all(outer.join("for")).unwrap();
    restore_counts_on(&b, &img, &id, &file, dumped);
    let out = b.berth(&["exec", &id, "cat", "/real/conf/setting"]);
    assert_eq!(out.ok().stdout, "on\n");
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

/// A restore that CRIU fails (the bind volume's source is gone) leaves
/// no state, cgroup or mount behind, and the id free.
#[test]
fn a_failed_restore_leaves_nothing() {
    if !criu_here("a_failed_restore_leaves_nothing") {
        return;
    }
    let b = counter("/data");
    let vol = b.path.parent().unwrap().join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    b.config(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/data", "type": "bind", "source": s(&vol), "options": ["rbind"]}),
        );
    });
    let id = b.id("criu-fail");
    b.run_detached(&id);
    count_above(&vol.join("count"), 1);
    let img = images(&b, "img");
    slow(&b, &["checkpoint", "--image-path", &s(&img), &id]).ok();
    std::fs::remove_dir_all(&vol).unwrap();
    let out = restore_detached(&b, &img, &id);
    assert_ne!(out.code, 0, "restore without its volume: {out:?}");
    assert!(out.stderr.contains("restore.log"), "{}", out.stderr);
    b.assert_no_leftovers(&id);
    // The id is free again.
    std::fs::create_dir_all(&vol).unwrap();
    restore_detached(&b, &img, &id).ok();
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

/// Found before CRIU runs, so on any host: a missing image directory, one
/// without a checkpoint, a restore in CRIU's strict cgroup mode, a
/// --parent-path that is absolute or missing, and a CRIU too old.
#[test]
fn errors_before_criu_runs() {
    let b = Bundle::sh("sleep 1000");
    let id = b.id("criu-err");
    let bundle = s(&b.path);
    let missing = images(&b, "nope");
    let out = b.berth(&[
        "restore",
        "-d",
        "-b",
        &bundle,
        "--image-path",
        &s(&missing),
        &id,
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(&format!(
            "--image-path {}: no such directory",
            missing.display()
        )),
        "{}",
        out.stderr
    );
    b.assert_no_leftovers(&id);
    // CRIU's strict mode refuses the cgroup berth makes for the restore.
    let args = [
        "restore",
        "-d",
        "--manage-cgroups-mode",
        "strict",
        "-b",
        &bundle,
    ];
    let out = b.berth(&[&args[..], &["--image-path", &s(&missing), &id]].concat());
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("--manage-cgroups-mode strict: CRIU then refuses"),
        "{}",
        out.stderr
    );
    b.assert_no_leftovers(&id);
    let empty = images(&b, "empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = b.berth(&[
        "restore",
        "-d",
        "-b",
        &bundle,
        "--image-path",
        &s(&empty),
        &id,
    ]);
    assert!(out.stderr.contains("holds no checkpoint"), "{}", out.stderr);
    b.assert_no_leftovers(&id);

    b.run_detached(&id);
    let img = s(&images(&b, "img"));
    for (parent, says) in [
        ("../nope", "invalid --parent-path ../nope"),
        ("/abs", "must be relative to --image-path"),
    ] {
        let out = b.berth(&[
            "checkpoint",
            "--image-path",
            &img,
            "--parent-path",
            parent,
            &id,
        ]);
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains(says), "{}", out.stderr);
    }
    let out = b.berth(&["checkpoint", "--manage-cgroups-mode", "props", &id]);
    assert!(
        out.stderr.contains("one of soft, full, strict, ignore"),
        "{}",
        out.stderr
    );
    let out = b.berth(&["checkpoint", "--empty-ns", "pid", &id]);
    assert!(
        out.stderr.contains("only the network namespace"),
        "{}",
        out.stderr
    );
    let out = b.berth(&[
        "--criu",
        "/nonexistent/criu",
        "checkpoint",
        "--image-path",
        &img,
        &id,
    ]);
    assert!(
        out.stderr.contains("cannot run CRIU (/nonexistent/criu)"),
        "{}",
        out.stderr
    );
    // A CRIU older than berth drives: a stand-in that answers the
    // version request as CRIU 3.13 would (criu_resp: type VERSION,
    // success, version {major 3, minor 13}).
    let old = b.path.parent().unwrap().join("old-criu");
    std::fs::write(
        &old,
        "#!/usr/bin/python3\nimport socket, sys\ns = socket.socket(fileno=int(sys.argv[2]))\ns.recv(65536)\ns.send(bytes([8, 10, 16, 1, 0x52, 4, 8, 3, 16, 13]))\n",
    )
    .unwrap();
    std::fs::set_permissions(&old, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = b.berth(&["--criu", &s(&old), "checkpoint", "--image-path", &img, &id]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("CRIU 3.13.0 is too old: berth needs CRIU 3.14.0 or newer"),
        "{}",
        out.stderr
    );
    // None of it touched the container.
    assert_eq!(b.status(&id), "running");
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}
