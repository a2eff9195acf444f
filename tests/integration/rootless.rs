//! Rootless berth on this host: an ordinary user made by the test runs
//! berth on a bundle of its own, made by `berth spec --rootless` as that
//! user. This host's cgroups are v1 (hybrid), where no cgroup is delegated
//! to a user: a rootless container has none, as with runc 1.1.5.

use crate::common::user::TestUser;
use crate::common::{Out, berth_bin, make_rootfs};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

static IDS: AtomicU32 = AtomicU32::new(0);

/// A test user with a bundle of its own; every container it made is
/// deleted (as the user) before the user goes.
pub(crate) struct Rootless {
    ids: std::sync::Mutex<Vec<String>>,
    pub bundle: PathBuf,
    pub user: TestUser,
}

impl Rootless {
    /// `spec --rootless`'s config as the user made it, running `sh -c
    /// script` without a terminal.
    pub(crate) fn new(script: &str) -> Rootless {
        let user = TestUser::new(&[berth_bin()]);
        let bundle = user.home.join("bundle");
        make_rootfs(&bundle.join("rootfs"));
        user.chown_all(&bundle);
        let r = Rootless {
            ids: Default::default(),
            bundle,
            user,
        };
        let b = r.bundle.to_str().unwrap().to_string();
        r.berth(&["spec", "--rootless", "--bundle", &b]).ok();
        r.config(|c| {
            c["process"]["terminal"] = false.into();
            c["process"]["args"] = serde_json::json!(["sh", "-c", script]);
        });
        r
    }

    pub(crate) fn config(&self, f: impl FnOnce(&mut Value)) {
        let file = self.bundle.join("config.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        f(&mut v);
        // Written over the user's file, which stays the user's.
        std::fs::write(&file, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }

    pub(crate) fn berth(&self, args: &[&str]) -> Out {
        self.user.run("berth", args)
    }

    pub(crate) fn id(&self, name: &str) -> String {
        let id = format!(
            "{name}-{}-{}",
            std::process::id(),
            IDS.fetch_add(1, Ordering::Relaxed)
        );
        self.ids.lock().unwrap().push(id.clone());
        id
    }

    pub(crate) fn run(&self, id: &str) -> Out {
        let b = self.bundle.to_str().unwrap().to_string();
        self.berth(&["run", "--bundle", &b, id])
    }

    pub(crate) fn state(&self, id: &str) -> Value {
        let out = self.berth(&["state", id]);
        out.ok();
        serde_json::from_str(&out.stdout).unwrap()
    }

    /// The user's state root: $XDG_RUNTIME_DIR/berth.
    pub(crate) fn root(&self) -> PathBuf {
        self.user.xdg.join("berth")
    }

    #[track_caller]
    pub(crate) fn assert_state_empty(&self) {
        let left: Vec<_> = std::fs::read_dir(self.root())
            .map(|d| d.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left in the user's state dir: {left:?}");
    }
}

impl Drop for Rootless {
    fn drop(&mut self) {
        for id in self.ids.lock().unwrap().iter() {
            let _ = self.berth(&["delete", "--force", id]);
        }
    }
}

pub(crate) fn wait_status(r: &Rootless, id: &str, want: &str) {
    for _ in 0..500 {
        if r.state(id)["status"] == want {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{id} never became {want}");
}

/// The container's view of itself: root of a user namespace that maps the
/// user alone, setgroups denied (the kernel's condition for writing a gid
/// map unprivileged), and berth's own cgroups, since it has none.
#[test]
fn rootless_run_maps_the_user_and_has_no_cgroup() {
    let r = Rootless::new(
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; \
         cat /proc/self/cgroup; hostname; grep ' /sys ' /proc/self/mountinfo",
    );
    let id = r.id("rl-run");
    let out = r.run(&id);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(&lines[..2], ["0", "0"], "{}", out.stdout);
    let map = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(map(lines[2]), format!("0 {} 1", r.user.uid));
    assert_eq!(map(lines[3]), format!("0 {} 1", r.user.gid));
    assert_eq!(lines[4], "deny");
    // No cgroup of its own: the container's processes are where berth
    // was, in every hierarchy (runc's rootless container on v1 the same).
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let inside: String = lines[5..5 + own.lines().count()]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(inside, own);
    assert_eq!(lines[5 + own.lines().count()], "berth");
    // sysfs cannot be mounted without a network namespace of the
    // container's own: spec --rootless binds the host's, read-only.
    assert!(out.stdout.contains(" /sys ro,"), "{}", out.stdout);
    r.assert_state_empty();
    let mode = std::fs::metadata(r.root()).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o7777,
        0o1700,
        "$XDG_RUNTIME_DIR/berth is 0700 and sticky, as runc's"
    );
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&mode), r.user.uid);
}

/// create, state, start, exec, list, kill, delete as the user; the
/// commands that need a cgroup say the container has none.
#[test]
fn rootless_lifecycle_and_exec() {
    let r = Rootless::new("echo hi > /tmp/started; sleep 1000");
    r.config(|c| c["root"]["readonly"] = false.into());
    let id = r.id("rl-life");
    let b = r.bundle.to_str().unwrap().to_string();
    r.berth(&["create", "--bundle", &b, &id]).ok();
    assert_eq!(r.state(&id)["status"], "created");
    assert!(
        r.root().join(&id).is_dir(),
        "state under $XDG_RUNTIME_DIR/berth"
    );
    r.berth(&["start", &id]).ok();
    assert_eq!(r.state(&id)["status"], "running");

    let out = r.berth(&[
        "exec",
        &id,
        "sh",
        "-c",
        "cat /tmp/started; id -u; ps -o pid,args",
    ]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(&lines[..2], ["hi", "0"], "{}", out.stdout);
    // In the container's pid namespace: its process is 1 there.
    assert!(out.stdout.contains("    1 sleep 1000"), "{}", out.stdout);

    let out = r.berth(&["list", "--format", "json"]);
    out.ok();
    let list: Value = serde_json::from_str(&out.stdout).unwrap();
    let me = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str());
    assert_eq!(me.unwrap()["status"], "running", "{}", out.stdout);

    for (args, says) in [
        (vec!["pause", &id], "no cgroup"),
        (vec!["ps", &id], "no cgroup"),
        (vec!["events", "--stats", &id], "no cgroup"),
        (
            vec!["update", "--memory", "100000000", &id],
            "cannot set memory limit",
        ),
    ] {
        let out = r.berth(&args);
        assert_ne!(out.code, 0, "{args:?}");
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
    // resume of a container that is not paused: runc's words.
    let out = r.berth(&["resume", &id]);
    assert!(
        out.stderr.contains("container not paused"),
        "{}",
        out.stderr
    );

    r.berth(&["kill", &id, "KILL"]).ok();
    wait_status(&r, &id, "stopped");
    r.berth(&["delete", &id]).ok();
    r.assert_state_empty();
}

/// kill --all without a cgroup reaches every process of the container's
/// pid namespace (runc 1.1.5 fails here: "lstat : no such file or
/// directory"); delete --force ends a running container.
#[test]
fn rootless_kill_all_and_force_delete() {
    // Two shells that report a TERM: the container's init (which gets only
    // signals it handles) and one in the background, which only kill
    // --all reaches. The init waits for the other before it exits.
    let r = Rootless::new(
        "trap 'wait; echo init > /data/init; exit 0' TERM; \
         (trap 'echo bg > /data/bg; exit 0' TERM; sleep 1000 & echo > /data/ready; wait) & \
         wait",
    );
    let data = r.user.mkdir("data");
    r.config(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/data", "type": "bind",
            "source": data.to_str().unwrap(), "options": ["rbind", "rw"]
        }));
    });
    let id = r.id("rl-all");
    let b = r.bundle.to_str().unwrap().to_string();
    r.berth(&["run", "--detach", "--bundle", &b, &id]).ok();
    for _ in 0..1000 {
        if data.join("ready").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(data.join("ready").exists(), "the background shell started");
    r.berth(&["kill", "--all", &id, "TERM"]).ok();
    wait_status(&r, &id, "stopped");
    assert_eq!(std::fs::read_to_string(data.join("bg")).unwrap(), "bg\n");
    assert_eq!(
        std::fs::read_to_string(data.join("init")).unwrap(),
        "init\n"
    );
    r.berth(&["delete", &id]).ok();

    let r2 = Rootless::new("sleep 1000");
    let id = r2.id("rl-force");
    let b = r2.bundle.to_str().unwrap().to_string();
    r2.berth(&["run", "--detach", "--bundle", &b, &id]).ok();
    let pid = r2.state(&id)["pid"].as_i64().unwrap();
    r2.berth(&["delete", "--force", &id]).ok();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    r2.assert_state_empty();
}

/// Limits without a cgroup: runc 1.1.5 run as an ordinary user here fails
/// the create with "cannot set memory limit: container could not join or
/// create cgroup" (pids, cpu, cpuset, blkio alike, the first in its order),
/// and ignores device rules. berth refuses the same, before anything
/// exists, and leaves nothing.
#[test]
fn rootless_limits_without_cgroup() {
    let r = Rootless::new("true");
    r.config(|c| {
        c["linux"]["resources"] =
            serde_json::json!({"pids": {"limit": 10}, "memory": {"limit": 100000000}});
    });
    let out = r.run(&r.id("rl-limit"));
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("cannot set memory limit: container could not join or create cgroup"),
        "{}",
        out.stderr
    );
    r.assert_state_empty();

    r.config(|c| {
        c["linux"]["resources"] =
            serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]});
    });
    r.run(&r.id("rl-devices")).ok();
    r.assert_state_empty();
}

/// A bind mount of a directory the user owns: what the container's root
/// writes there is the user's on the host.
#[test]
fn rootless_bind_mount_of_users_dir() {
    let r = Rootless::new("cat /data/in && echo out > /data/out");
    let data = r.user.mkdir("data");
    std::fs::write(data.join("in"), "from the host\n").unwrap();
    r.user.chown_all(&data);
    r.config(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/data", "type": "bind",
            "source": data.to_str().unwrap(), "options": ["rbind", "rw"]
        }));
    });
    let out = r.run(&r.id("rl-bind"));
    out.ok();
    assert_eq!(out.stdout, "from the host\n");
    let meta = std::fs::metadata(data.join("out")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), r.user.uid);
    assert_eq!(std::fs::read_to_string(data.join("out")).unwrap(), "out\n");
}

/// More ids than the user's own: the user's /etc/subuid and /etc/subgid
/// range, written by newuidmap and newgidmap. A process of uid 1000 in the
/// container is subordinate id 999 of the range on the host; setgroups
/// stays allowed, as in runc. A range that is not the user's is refused by
/// newuidmap, and berth says so.
#[test]
fn rootless_subordinate_ids_through_newuidmap() {
    let r = Rootless::new("cat /proc/self/uid_map /proc/self/setgroups; id -u; touch /data/f");
    let (uid, gid, sub) = (r.user.uid, r.user.gid, r.user.sub_start);
    let data = r.user.mkdir("data");
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    r.config(|c| {
        c["linux"]["uidMappings"] = serde_json::json!([
            {"containerID": 0, "hostID": uid, "size": 1},
            {"containerID": 1, "hostID": sub, "size": 65536}]);
        c["linux"]["gidMappings"] = serde_json::json!([
            {"containerID": 0, "hostID": gid, "size": 1},
            {"containerID": 1, "hostID": sub, "size": 65536}]);
        c["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/data", "type": "bind",
            "source": data.to_str().unwrap(), "options": ["rbind", "rw"]
        }));
    });
    let out = r.run(&r.id("rl-subids"));
    out.ok();
    let lines: Vec<String> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines[0], format!("0 {uid} 1"));
    assert_eq!(lines[1], format!("1 {sub} 65536"));
    assert_eq!(lines[2], "allow");
    assert_eq!(lines[3], "1000");
    let meta = std::fs::metadata(data.join("f")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), sub + 999);
    assert_eq!(std::os::unix::fs::MetadataExt::gid(&meta), sub + 999);

    r.config(|c| {
        c["linux"]["uidMappings"][1]["hostID"] = (sub + 65536 * 4).into();
    });
    let out = r.run(&r.id("rl-notmine"));
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("linux.uidMappings") && out.stderr.contains("newuidmap"),
        "{}",
        out.stderr
    );
    r.assert_state_empty();
}

/// Where a rootless berth keeps state: $XDG_RUNTIME_DIR/berth; without
/// XDG_RUNTIME_DIR, as runc, the system's directory, which the user may
/// not write: the error names it and what to do. --root wins over both.
#[test]
fn rootless_state_root() {
    let r = Rootless::new("true");
    let mut c = r
        .user
        .cmd(r.user.bin.join("berth").to_str().unwrap(), &["run", "x"]);
    c.env_remove("XDG_RUNTIME_DIR").current_dir(&r.bundle);
    let out = crate::common::run_with_timeout(c, std::time::Duration::from_secs(60));
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("/run/berth") && out.stderr.contains("XDG_RUNTIME_DIR"),
        "{}",
        out.stderr
    );

    let mut c = r
        .user
        .cmd(r.user.bin.join("berth").to_str().unwrap(), &["list"]);
    c.env("XDG_RUNTIME_DIR", "/proc");
    let out = crate::common::run_with_timeout(c, std::time::Duration::from_secs(60));
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("/proc/berth"), "{}", out.stderr);

    let own = r.user.mkdir("state");
    let id = r.id("rl-root");
    let b = r.bundle.to_str().unwrap().to_string();
    r.berth(&["--root", own.to_str().unwrap(), "run", "--bundle", &b, &id])
        .ok();
    // (The earlier commands with XDG_RUNTIME_DIR made the empty root.)
    r.assert_state_empty();
    assert_eq!(std::fs::read_dir(&own).unwrap().count(), 0);
}

/// `spec --rootless` writes what runc's does for the same user (but for
/// the hostname and ociVersion each runtime names itself with).
#[test]
fn rootless_spec_matches_runc() {
    let runc = std::env::var("RUNC").unwrap_or_else(|_| "/usr/sbin/runc".into());
    let user = TestUser::new(&[berth_bin(), &runc]);
    let runc_name = std::path::Path::new(&runc)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let mut specs = Vec::new();
    for (bin, dir) in [("berth", "b"), (runc_name, "r")] {
        let d = user.mkdir(dir);
        user.run(
            bin,
            &["spec", "--rootless", "--bundle", d.to_str().unwrap()],
        )
        .ok();
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("hostname");
        o.remove("ociVersion");
        specs.push(v);
    }
    assert_eq!(specs[0], specs[1]);
    assert_eq!(specs[0]["linux"]["uidMappings"][0]["hostID"], user.uid);
}

/// What an unprivileged user namespace forbids, said so: proc cannot be
/// mounted without a pid namespace of the container's own (runc 1.1.5
/// says only "mount proc:/proc ...: operation not permitted").
#[test]
fn rootless_proc_needs_a_pid_namespace() {
    let r = Rootless::new("true");
    r.config(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    let out = r.run(&r.id("rl-nopid"));
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("mount proc")
            && out
                .stderr
                .contains("give it one of its own in linux.namespaces"),
        "{}",
        out.stderr
    );
    r.assert_state_empty();
}

/// `spec --rootless`'s bundle exactly as written (a terminal, `sh`), run
/// in the foreground on the user's terminal: berth relays it.
#[test]
fn rootless_spec_bundle_runs_as_is_on_a_terminal() {
    use crate::common::tty::{openpty, read_all, spawn_on};
    use std::io::Write;
    let user = TestUser::new(&[berth_bin()]);
    let bundle = user.home.join("bundle");
    make_rootfs(&bundle.join("rootfs"));
    user.chown_all(&bundle);
    let b = bundle.to_str().unwrap();
    user.run("berth", &["spec", "--rootless", "--bundle", b])
        .ok();
    let (mut master, slave) = openpty(27, 83);
    let id = format!("rl-tty-{}", std::process::id());
    let berth = user.bin.join("berth");
    let cmd = user.cmd(berth.to_str().unwrap(), &["run", "--bundle", b, &id]);
    let mut child = spawn_on(cmd, slave);
    // Bounded: berth is killed after 60 s, which closes the terminal.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (d2, pid) = (done.clone(), child.id() as i32);
    let watchdog = std::thread::spawn(move || {
        for _ in 0..1200 {
            if d2.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    master
        .write_all(b"stty size; id -u; tty; hostname; exit 0\r")
        .unwrap();
    let seen = read_all(&mut master);
    let code = child.wait().unwrap().code();
    done.store(true, Ordering::Relaxed);
    watchdog.join().unwrap();
    let _ = user.run("berth", &["delete", "--force", &id]);
    assert_eq!(code, Some(0), "{seen}");
    assert!(seen.contains("27 83\r\n0\r\n/dev/pts/0\r\nberth"), "{seen}");
}

/// process.oomScoreAdj as the user: raised as runc 1.1.5 raises it (its
/// nsexec writes /proc/self/oom_score_adj as the user); lowering it below
/// what the user started with takes CAP_SYS_RESOURCE, and the create fails
/// as runc's does ("failed to update /proc/self/oom_score_adj"), naming
/// the file and leaving nothing.
#[test]
fn rootless_oom_score_adj() {
    let r = Rootless::new("cat /proc/self/oom_score_adj");
    r.config(|c| c["process"]["oomScoreAdj"] = 500.into());
    let out = r.run(&r.id("rl-oom"));
    out.ok();
    assert_eq!(out.stdout.trim(), "500");
    r.config(|c| c["process"]["oomScoreAdj"] = (-500).into());
    let out = r.run(&r.id("rl-oom-low"));
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("oom_score_adj"), "{}", out.stderr);
    r.assert_state_empty();
}
