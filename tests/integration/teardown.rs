//! A lifecycle that always finishes (issue 17, part 4): a damaged
//! state.json, state and list racing delete, and the bounds of
//! delete --force.

use crate::common::{Bundle, cgroup_file};
use std::time::{Duration, Instant};

/// The pids in the container's cgroup, once there are `n` of them.
fn cgroup_pids(id: &str, n: usize) -> Vec<i32> {
    let procs = cgroup_file("pids", &format!("/berth/{id}"), "cgroup.procs");
    let read = || -> Vec<i32> {
        std::fs::read_to_string(&procs)
            .unwrap_or_default()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while read().len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let pids = read();
    assert_eq!(pids.len(), n, "{n} processes in {}", procs.display());
    pids
}

/// Whether `pid` is a live process (not gone, not a zombie).
pub(crate) fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let state = s.rsplit_once(") ")?.1.chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

#[test]
fn a_damaged_state_json_is_still_cleaned_by_delete_force() {
    let b = Bundle::sh("sleep 1000 & sleep 1000 & wait");
    let healthy = b.id("healthy");
    b.run_detached(&healthy);
    type Damage = fn(&std::path::Path);
    let damages: [(&str, Damage); 2] = [
        ("torn", |f| {
            // A torn write: the first half of the file.
            let len = std::fs::metadata(f).unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(f)
                .unwrap()
                .set_len(len / 2)
                .unwrap();
        }),
        ("garbage", |f| {
            std::fs::write(f, b"\0\x7fELF not json").unwrap()
        }),
    ];
    for (name, damage) in damages {
        let id = b.id(name);
        b.run_detached(&id);
        let pids = cgroup_pids(&id, 3);
        let file = b.root.join(&id).join("state.json");
        damage(&file);
        let file = file.display().to_string();
        for args in [
            vec!["state", &id],
            vec!["delete", &id],
            vec!["kill", &id, "9"],
        ] {
            let out = b.berth(&args);
            assert_eq!(out.code, 1, "{args:?}: {out:?}");
            assert!(
                out.stderr.contains(&file) && out.stderr.contains("damaged"),
                "{args:?}: {}",
                out.stderr
            );
        }
        let out = b.berth(&["list", "-q"]);
        assert_eq!(out.stdout, format!("{healthy}\n"), "{name}: {out:?}");
        assert!(out.stderr.contains(&file), "{}", out.stderr);
        assert!(pids.iter().all(|&p| alive(p)), "nothing was touched yet");
        let out = b.berth(&["delete", "--force", &id]);
        out.ok();
        assert!(out.stderr.contains("cleanup.json"), "{}", out.stderr);
        for p in pids {
            assert!(!alive(p), "{name}: process {p} of the container survived");
        }
        b.assert_no_leftovers(&id);
    }
    assert_eq!(b.status(&healthy), "running");
}

#[test]
fn delete_force_with_both_state_files_damaged_says_what_it_could_not_find() {
    let b = Bundle::new(&["sleep", "1000"]);
    let id = b.id("lost");
    let pid = b.run_detached(&id) as i32;
    for f in ["state.json", "cleanup.json"] {
        std::fs::write(b.root.join(&id).join(f), "{").unwrap();
    }
    let out = b.berth(&["delete", "--force", &id]);
    // Clean up by hand what berth could not find, before any assertion.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    for d in b.cgroup_dirs(&format!("/berth/{id}")) {
        let _ = std::fs::remove_dir(d);
    }
    assert_eq!(out.code, 1, "{out:?}");
    for word in ["state.json", "cleanup.json", "could not be found"] {
        assert!(out.stderr.contains(word), "{word}: {}", out.stderr);
    }
    assert!(!b.root.join(&id).exists(), "the state directory is removed");
    assert_eq!(b.berth(&["delete", "--force", &id]).code, 0);
}

#[test]
fn state_and_list_racing_delete_see_the_container_whole_or_gone() {
    let b = Bundle::new(&["sleep", "1000"]);
    let ids: Vec<String> = (0..12).map(|i| b.id(&format!("race{i}"))).collect();
    for id in &ids {
        b.create(id).ok();
        // A state directory slower to empty widens the moment a reader
        // could catch it half removed (with 500 files, berth before the
        // fix showed "has no state" several times a run; without, a few).
        for i in 0..500 {
            std::fs::write(b.root.join(id).join(format!("slow{i}")), "").unwrap();
        }
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    let bad = std::sync::Mutex::new(Vec::new());
    let calls = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for r in 0..3 {
            let (b, ids, done, bad, calls) = (&b, &ids, &done, &bad, &calls);
            s.spawn(move || {
                let mut i = r;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let id = &ids[i % ids.len()];
                    let out = b.berth(&["state", id]);
                    let whole = out.code == 0
                        && serde_json::from_str::<serde_json::Value>(&out.stdout)
                            .is_ok_and(|v| v["id"] == id.as_str());
                    let gone = out.code == 1 && out.stderr.contains("does not exist");
                    if !whole && !gone {
                        bad.lock().unwrap().push(format!("state {id}: {out:?}"));
                    }
                    if i % 4 == 0 {
                        let out = b.berth(&["list", "--format", "json"]);
                        let parsed = serde_json::from_str::<serde_json::Value>(&out.stdout);
                        if out.code != 0 || parsed.is_err() || !out.stderr.is_empty() {
                            bad.lock().unwrap().push(format!("list: {out:?}"));
                        }
                    }
                    calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
        for id in &ids {
            b.berth(&["delete", "--force", id]).ok();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let bad = bad.into_inner().unwrap();
    assert!(bad.is_empty(), "{} torn views, e.g. {}", bad.len(), bad[0]);
    assert!(
        calls.into_inner() > ids.len(),
        "the readers raced the deletes"
    );
    for id in &ids {
        b.assert_no_leftovers(id);
    }
    let left: Vec<_> = std::fs::read_dir(&b.root).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?} left under the root");
}

/// A v1 freezer cgroup of the test's own (not the container's), thawed and
/// removed when the test ends however it ends.
struct Freezer(std::path::PathBuf);

impl Freezer {
    fn new(name: &str) -> Option<Freezer> {
        let top = std::path::Path::new("/sys/fs/cgroup/freezer");
        if !top.join("freezer.state").exists() && !top.join("cgroup.procs").exists() {
            return None;
        }
        let dir = top.join(format!("berth-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Some(Freezer(dir))
    }
    fn hold(&self, pid: i32) {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string()).unwrap();
        std::fs::write(self.0.join("freezer.state"), "FROZEN").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(self.0.join("freezer.state"))
            .unwrap()
            .trim()
            != "FROZEN"
        {
            assert!(Instant::now() < deadline, "the test's freezer froze");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    fn thaw(&self) {
        let _ = std::fs::write(self.0.join("freezer.state"), "THAWED");
    }
}

impl Drop for Freezer {
    fn drop(&mut self) {
        self.thaw();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::remove_dir(&self.0).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// berth with these arguments and environment; its output and how long it took.
pub(crate) fn timed(
    b: &Bundle,
    args: &[&str],
    env: &[(&str, &str)],
) -> (crate::common::Out, Duration) {
    let mut cmd = b.cmd(args);
    cmd.envs(env.iter().copied());
    let t = Instant::now();
    let out = crate::common::run_with_timeout(cmd, Duration::from_secs(60));
    (out, t.elapsed())
}

#[test]
fn delete_force_of_a_process_held_in_d_state_is_bounded_and_names_it() {
    // Held in D state: frozen by a v1 freezer cgroup of the test's own, a
    // frozen task's SIGKILL stays pending until it is thawed. (A pure v2
    // host has no v1 freezer, and its freezer lets SIGKILL through.)
    let b = Bundle::sh("sleep 1000 & wait");
    // Declared after the bundle, dropped before it: a failed assertion
    // thaws first, so that the bundle's delete --force can clean.
    let Some(freezer) = Freezer::new("held") else {
        return;
    };
    let id = b.id("held");
    let init = b.run_detached(&id) as i32;
    let pids = cgroup_pids(&id, 2);
    let sleep = *pids.iter().find(|&&p| p != init).unwrap();
    // The shell's child is in the cgroup before it has exec'd sleep.
    let comm = || std::fs::read_to_string(format!("/proc/{sleep}/comm")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while comm().trim() != "sleep" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    freezer.hold(sleep);
    let (out, took) = timed(
        &b,
        &["delete", "--force", &id],
        &[("BERTH_KILL_TIMEOUT", "1")],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let group = format!("/{}", freezer.0.file_name().unwrap().to_str().unwrap());
    for want in [
        format!("process {sleep} (sleep, state D, waiting in "),
        format!(
            "did not die within 1.0s of SIGKILL: it is held by freezer cgroup {group} (freezer.state FROZEN)"
        ),
        // The container's init, a pid namespace's, waits for the sleep.
        format!("process {init} (busybox, state "),
        "zap_pid_ns_processes".into(),
        "delete --force can be run again".into(),
    ] {
        assert!(out.stderr.contains(&want), "{want:?} in {}", out.stderr);
    }
    assert!(took < Duration::from_secs(8), "bounded: {took:?}");
    assert!(b.root.join(&id).join("state.json").exists(), "state kept");
    // Once it can die, a second delete --force finishes the job.
    freezer.thaw();
    b.berth(&["delete", "--force", &id]).ok();
    assert!(!alive(sleep) && !alive(init));
    b.assert_no_leftovers(&id);
}

#[test]
fn a_cgroup_that_will_not_go_away_is_named_and_a_second_delete_finishes() {
    // A sub-cgroup of the container's holding a process of the host's,
    // which is not the container's to kill (v1: the pids hierarchy; on v2
    // cgroup.kill would take it along).
    if crate::common::cgroup_v2() {
        return;
    }
    let b = Bundle::new(&["sleep", "1000"]);
    let id = b.id("busy");
    b.run_detached(&id);
    let held = cgroup_file("pids", &format!("/berth/{id}/held"), "");
    std::fs::create_dir(&held).unwrap();
    struct Host(std::process::Child, std::path::PathBuf);
    impl Drop for Host {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            let _ = std::fs::remove_dir(&self.1);
        }
    }
    let mut host = Host(
        std::process::Command::new("sleep")
            .arg("1000")
            .spawn()
            .unwrap(),
        held.clone(),
    );
    let pid = host.0.id();
    std::fs::write(held.join("cgroup.procs"), pid.to_string()).unwrap();
    let (out, took) = timed(
        &b,
        &["delete", "--force", &id],
        &[("BERTH_CGROUP_TIMEOUT", "0.5")],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let dir = held.display().to_string();
    for want in [
        format!("cgroup {} will not go away", dir.trim_end_matches('/')),
        format!("it holds process {pid} (sleep)"),
        "delete --force can be run again".into(),
    ] {
        assert!(out.stderr.contains(&want), "{want:?} in {}", out.stderr);
    }
    assert!(took < Duration::from_secs(8), "bounded: {took:?}");
    assert_eq!(
        b.status(&id),
        "stopped",
        "the container's own process is gone"
    );
    host.0.kill().unwrap();
    host.0.wait().unwrap();
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

#[test]
fn a_hung_poststop_hook_is_bounded_by_its_timeout_or_berths() {
    let b = Bundle::new(&["sleep", "1000"]);
    let mark = b.path.join("third-hook-ran");
    b.config(|c| {
        c["hooks"]["poststop"] = serde_json::json!([
            {"path": "/bin/sleep", "args": ["sleep", "1000"], "timeout": 1},
            {"path": "/bin/sleep", "args": ["sleep", "1000"]},
            {"path": "/bin/touch", "args": ["touch", mark]},
        ]);
    });
    let id = b.id("hung-hook");
    b.run_detached(&id);
    let (out, took) = timed(
        &b,
        &["delete", "--force", &id],
        &[("BERTH_HOOK_TIMEOUT", "1")],
    );
    out.ok();
    for want in [
        "poststop hook #0 (/bin/sleep): timed out after 1 s",
        "poststop hook #1 (/bin/sleep): timed out after 1.0s (it has no timeout of its own; berth's bound for delete --force, BERTH_HOOK_TIMEOUT)",
    ] {
        assert!(out.stderr.contains(want), "{want:?} in {}", out.stderr);
    }
    assert!(mark.exists(), "the hooks after a hung one still run");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    b.assert_no_leftovers(&id);
}

#[test]
fn a_process_in_d_state_on_a_stalled_fuse_mount_bounds_pause_and_delete() {
    // cat looks a name up on a FUSE mount whose daemon keeps the request:
    // a freeze waits for it in vain (the freezer cannot stop a killable
    // wait), and after SIGKILL it sleeps uninterruptibly until the request
    // ends.
    let b = Bundle::sh("cat /stall/x; sleep 1000");
    let mnt = b.path.join("stall");
    let Some(fuse) = crate::common::fuse::StalledFuse::mount(&mnt) else {
        return;
    };
    b.config(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/stall", "type": "bind", "source": mnt, "options": ["rbind"]}
        ));
    });
    let id = b.id("stall");
    b.run_detached(&id);
    let cat = fuse
        .held(Duration::from_secs(10))
        .expect("the container's cat looks x up");
    let (out, took) = timed(&b, &["pause", &id], &[("BERTH_FREEZE_TIMEOUT", "1")]);
    assert_eq!(out.code, 1, "{out:?}");
    let said = match crate::common::cgroup_v2() {
        true => "cgroup.events says frozen 0",
        false => "freezer.state says FREEZING",
    };
    for want in [
        format!("freeze did not complete within 1.0s ({said})"),
        format!("in uninterruptible sleep: process {cat} (cat, state D"),
    ] {
        assert!(out.stderr.contains(&want), "{want:?} in {}", out.stderr);
    }
    assert!(took < Duration::from_secs(8), "bounded: {took:?}");
    assert_eq!(b.status(&id), "running", "the half-done freeze is undone");
    let (out, took) = timed(
        &b,
        &["delete", "--force", &id],
        &[("BERTH_KILL_TIMEOUT", "1")],
    );
    assert_eq!(out.code, 1, "{out:?}");
    for want in [
        format!("process {cat} (cat, state D, waiting in "),
        "fuse".into(),
        "did not die within 1.0s of SIGKILL".into(),
    ] {
        assert!(out.stderr.contains(&want), "{want:?} in {}", out.stderr);
    }
    assert!(took < Duration::from_secs(8), "bounded: {took:?}");
    fuse.abort();
    b.berth(&["delete", "--force", &id]).ok();
    assert!(!alive(cat as i32));
    drop(fuse);
    b.assert_no_leftovers(&id);
}

#[test]
fn a_command_holding_the_lock_is_named_not_waited_for_forever() {
    let b = Bundle::new(&["sleep", "1000"]);
    let id = b.id("locked");
    b.run_detached(&id);
    // This test holds the container's lock, as a hung berth would.
    let dir = std::fs::File::open(b.root.join(&id)).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&dir);
    assert_eq!(unsafe { libc::flock(fd, libc::LOCK_EX) }, 0);
    let (out, took) = timed(
        &b,
        &["delete", "--force", &id],
        &[("BERTH_LOCK_TIMEOUT", "1")],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let want = format!(
        "container \\\"{id}\\\" is locked by process {} (",
        std::process::id()
    );
    assert!(out.stderr.contains(&want), "{want:?} in {}", out.stderr);
    assert!(out.stderr.contains("still after 1."), "{}", out.stderr);
    assert!(took < Duration::from_secs(8), "bounded: {took:?}");
    assert_eq!(b.status(&id), "running", "nothing was done");
    drop(dir);
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

/// A delete killed after it moved the state dir away leaves a
/// `~deleted.<pid>` no command shows; the next delete clears it, and leaves
/// one whose berth still works alone.
#[test]
fn what_a_killed_delete_left_is_cleared_by_the_next_delete() {
    let b = Bundle::new(&["true"]);
    std::fs::create_dir_all(&b.root).unwrap();
    // A pid above the kernel's largest (PID_MAX_LIMIT, 4194304): gone.
    let dead = b.root.join("~deleted.4194305");
    let live = b.root.join(format!("~deleted.{}", std::process::id()));
    for d in [&dead, &live] {
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("state.json"), "{}").unwrap();
    }
    let out = b.berth(&["list", "-q"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");
    let id = b.id("sweeper");
    b.create(&id).ok();
    b.berth(&["delete", "--force", &id]).ok();
    assert!(!dead.exists(), "{} is swept", dead.display());
    assert!(live.exists(), "{} of a live berth stays", live.display());
    std::fs::remove_dir_all(&live).unwrap();
    b.assert_no_leftovers(&id);
}
