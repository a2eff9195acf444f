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
fn alive(pid: i32) -> bool {
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
    let damages: [(&str, fn(&std::path::Path)); 2] = [
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
