//! Rootless berth with a cgroup v2 subtree delegated to the user, as
//! systemd's user@UID.service delegates one: a root-owned parent that gives
//! its children the memory, pids and cpu controllers (user-UID.slice), the
//! user's delegated cgroup (the directory and its cgroup.procs,
//! cgroup.subtree_control and cgroup.threads chowned to the user), and the
//! caller's own cgroup inside it (the session scope), where every berth
//! command starts. berth places the container beside the caller, in the
//! delegated cgroup, as runc's v2 manager does, and its limits bite. Only a
//! host whose sole hierarchy is cgroup v2 delegates: elsewhere (this
//! project's hybrid host) the tests say why they skip; the v2 guest of
//! `make test-v2` runs them.

use crate::common::cgroup_v2;
use crate::common::user::TestUser;
use crate::rootless::{Rootless, wait_status};
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static TREES: AtomicU32 = AtomicU32::new(0);

/// The delegated tree; removed (its processes killed first) on drop.
struct Delegated {
    /// Root's, like user-UID.slice.
    parent: PathBuf,
    /// The user's, like user@UID.service.
    deleg: PathBuf,
    /// The caller's own cgroup, like a session scope inside it.
    caller: PathBuf,
}

impl Delegated {
    fn new(user: &TestUser) -> Delegated {
        let parent = PathBuf::from(format!(
            "/sys/fs/cgroup/berth-rl-{}-{}",
            std::process::id(),
            TREES.fetch_add(1, Ordering::Relaxed)
        ));
        let deleg = parent.join(format!("user@{}.service", user.uid));
        let caller = deleg.join("session.scope");
        let d = Delegated {
            parent,
            deleg,
            caller,
        };
        std::fs::create_dir(&d.parent).unwrap();
        for c in ["memory", "pids", "cpu"] {
            let f = d.parent.join("cgroup.subtree_control");
            std::fs::write(&f, format!("+{c}"))
                .unwrap_or_else(|e| panic!("+{c} to {}: {e}", f.display()));
        }
        let chown = |p: &Path| std::os::unix::fs::chown(p, Some(user.uid), Some(user.gid)).unwrap();
        for dir in [&d.deleg, &d.caller] {
            std::fs::create_dir(dir).unwrap();
            chown(dir);
            for f in ["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"] {
                chown(&dir.join(f));
            }
        }
        d
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        let _ = std::fs::write(self.parent.join("cgroup.kill"), "1");
        let mut dirs = Vec::new();
        walk(&self.parent, &mut dirs);
        dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for d in dirs {
            let start = Instant::now();
            while std::fs::remove_dir(&d).is_err() && d.exists() {
                if start.elapsed() > Duration::from_secs(10) {
                    eprintln!("{}: cannot be removed", d.display());
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&e.path(), out);
        }
    }
}

fn read(dir: &Path, file: &str) -> String {
    let f = dir.join(file);
    std::fs::read_to_string(&f)
        .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
        .trim()
        .to_string()
}

/// A key's number in a flat keyed file (memory.events, pids.events).
fn count(dir: &Path, file: &str, key: &str) -> u64 {
    read(dir, file)
        .lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or(0)
}

/// None where the host cannot delegate (printed, as the reason to skip).
fn skip() -> bool {
    if !cgroup_v2() {
        println!(
            "skipped: /sys/fs/cgroup is not a cgroup v2-only hierarchy here, and nothing can be delegated to a user on v1 or hybrid cgroups (make test-v2 runs this in its v2 guest)"
        );
    }
    !cgroup_v2()
}

/// The container's cgroup is made by the user beside its own, in the
/// delegated cgroup; its memory and pids limits are there and bite, device
/// rules are ignored (a rootless berth cannot attach their filter, and
/// runc ignores that), pause and resume freeze it, update and events
/// --stats work, and delete removes it.
#[test]
fn rootless_v2_delegated_cgroup() {
    if skip() {
        return;
    }
    let mut r = Rootless::new("sleep 1000");
    let d = Delegated::new(&r.user);
    r.user.cgroup = Some(d.caller.clone());
    r.config(|c| {
        c["linux"]["resources"] = serde_json::json!({
            "memory": {"limit": 32 << 20, "swap": 32 << 20},
            "pids": {"limit": 16},
            "devices": [{"allow": false, "access": "rwm"}],
        });
    });
    let id = r.id("rl-v2");
    let b = r.bundle.to_str().unwrap().to_string();
    r.berth(&["run", "--detach", "--bundle", &b, &id]).ok();
    let pid = r.state(&id)["pid"].as_i64().unwrap();
    let cg = d.deleg.join(&id);
    let rel = cg.strip_prefix("/sys/fs/cgroup").unwrap();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(own.trim(), format!("0::/{}", rel.display()));
    assert_eq!(std::fs::metadata(&cg).unwrap().uid(), r.user.uid);
    assert_eq!(read(&cg, "memory.max"), (32 << 20).to_string());
    assert_eq!(read(&cg, "memory.swap.max"), "0");
    assert_eq!(read(&cg, "pids.max"), "16");
    let ps = r.berth(&["ps", "--format", "json", &id]);
    ps.ok();
    assert_eq!(ps.stdout.trim(), format!("[{pid}]"));

    r.berth(&["pause", &id]).ok();
    assert_eq!(r.state(&id)["status"], "paused");
    assert_eq!(read(&cg, "cgroup.freeze"), "1");
    r.berth(&["resume", &id]).ok();
    assert_eq!(r.state(&id)["status"], "running");
    assert_eq!(read(&cg, "cgroup.freeze"), "0");

    // 48 MiB held by a shell under a 32 MiB limit without swap.
    let out = r.berth(&[
        "exec",
        &id,
        "sh",
        "-c",
        "x=$(head -c 50331648 /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(!out.stdout.contains("survived"), "{out:?}");
    assert!(count(&cg, "memory.events", "oom_kill ") > 0);
    assert_eq!(r.state(&id)["status"], "running", "the init lives on");

    r.berth(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "64m",
        "--pids-limit",
        "8",
        &id,
    ])
    .ok();
    assert_eq!(read(&cg, "memory.max"), (64 << 20).to_string());
    assert_eq!(read(&cg, "pids.max"), "8");
    let out = r.berth(&["events", "--stats", &id]);
    out.ok();
    let ev: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(ev["type"], "stats", "{ev}");
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 64u64 << 20, "{ev}");
    assert!(ev["data"]["pids"]["current"].as_u64() >= Some(1), "{ev}");

    // Forks past the pids limit fail (the kernel counts them).
    let out = r.berth(&[
        "exec",
        &id,
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1000 & done; echo all",
    ]);
    assert!(!out.stdout.contains("all"), "{out:?}");
    assert!(count(&cg, "pids.events", "max ") > 0, "{out:?}");
    assert!(read(&cg, "pids.current").parse::<u32>().unwrap() <= 8);

    r.berth(&["kill", &id, "KILL"]).ok();
    wait_status(&r, &id, "stopped");
    r.berth(&["delete", &id]).ok();
    assert!(!cg.exists(), "{} is removed", cg.display());
    r.assert_state_empty();
}

/// A limit the user's delegation does not give (cpuset is not enabled
/// for the delegated cgroup here) fails the create, naming the file, and
/// leaves nothing; without limits the same container runs in its cgroup.
#[test]
fn rootless_v2_controller_not_delegated() {
    if skip() {
        return;
    }
    let mut r = Rootless::new("cat /proc/self/cgroup");
    let d = Delegated::new(&r.user);
    r.user.cgroup = Some(d.caller.clone());
    r.config(|c| {
        c["linux"]["resources"] = serde_json::json!({"cpu": {"cpus": "0"}});
    });
    let id = r.id("rl-v2-cpuset");
    let out = r.run(&id);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("cpuset.cpus"), "{out:?}");
    assert!(!d.deleg.join(&id).exists());
    r.assert_state_empty();

    r.config(|c| {
        c["linux"]["resources"] = Value::Null;
        crate::common::host_cgroupns(c);
    });
    let id = r.id("rl-v2-plain");
    let out = r.run(&id);
    out.ok();
    let rel = d.deleg.strip_prefix("/sys/fs/cgroup").unwrap();
    assert_eq!(out.stdout.trim(), format!("0::/{}/{id}", rel.display()));
    assert!(!d.deleg.join(&id).exists());
    r.assert_state_empty();
}
