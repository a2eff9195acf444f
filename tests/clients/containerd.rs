//! containerd 1.6 with ctr: a private daemon (root, state, sockets, its
//! own `opt` directory), the image imported from a local OCI archive, and
//! every container run through the runc shim v2 with the runtime binary and
//! root ctr's own flags give (`--runc-binary`, `--runc-root`).

use crate::common::{Out, cgroup_file, cgroup_v2};
use crate::daemon::Daemon;
use crate::host::Scratch;
use crate::image::{IMAGE, oci_archive};
use crate::suite::{Client, Runtime, Suite, run, run_on_pty, runtime, wait_for};
use std::process::Command;

const NS: &str = "berth";

pub struct Containerd {
    // Dropped in this order: the daemon stops before the sweep.
    daemon: Daemon,
    pub s: Scratch,
    pub rt: Runtime,
}

impl Containerd {
    pub fn start() -> Containerd {
        let s = Scratch::new("containerd");
        let daemon = start_daemon(&s);
        let c = Containerd {
            daemon,
            s,
            rt: runtime(),
        };
        let archive = oci_archive(&c.s.dir);
        c.ctr(&["images", "import", archive.to_str().unwrap()]).ok();
        c
    }

    pub fn ctr_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(self.s.path("containerd.sock"))
            .arg("--namespace")
            .arg(NS)
            .args(args);
        cmd
    }

    pub fn ctr(&self, args: &[&str]) -> Out {
        run(self.ctr_cmd(args))
    }

    /// `ctr run` with berth as the shim's runtime, its root and the fifos
    /// in the scratch directory and the container in the client's cgroup
    /// parent, then `flags`, the image, the id and the command.
    pub fn run_args(&self, flags: &[&str], id: &str, cmd: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "run".into(),
            "--runc-binary".into(),
            self.rt.path.to_str().unwrap().into(),
            "--runc-root".into(),
            self.s.str("runtime-root"),
            "--fifo-dir".into(),
            self.s.str("fifo"),
            "--cgroup".into(),
            format!("{}/{id}", self.s.cgroup),
        ];
        a.extend(flags.iter().map(|f| f.to_string()));
        a.push(IMAGE.into());
        a.push(id.into());
        a.extend(cmd.iter().map(|f| f.to_string()));
        a
    }

    pub fn run(&self, flags: &[&str], id: &str, cmd: &[&str]) -> Out {
        let a = self.run_args(flags, id, cmd);
        self.ctr(&a.iter().map(|s| s.as_str()).collect::<Vec<_>>())
    }

    /// The runtime's own view of a container (`berth state`), from the
    /// root the shim gave it: the runtime ctr was told to use is the one
    /// that made the container.
    pub fn runtime_state(&self, id: &str) -> Option<serde_json::Value> {
        let mut cmd = Command::new(&self.rt.path);
        cmd.arg("--root")
            .arg(self.s.path("runtime-root").join(NS))
            .args(["state", id]);
        let out = run(cmd);
        (out.code == 0).then(|| serde_json::from_str(&out.stdout).unwrap())
    }

    /// A task's status as `ctr task ls` shows it.
    pub fn task_status(&self, id: &str) -> Option<String> {
        let out = self.ctr(&["task", "ls"]);
        out.ok();
        out.stdout.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f[2].to_string())
        })
    }

    /// Stops the daemon and says what it or its containers left behind.
    pub fn shutdown(&mut self) -> Vec<String> {
        let mut left = self.reset();
        if let Err(e) = self.daemon.stop() {
            left.push(e);
        }
        left.extend(self.s.sweep());
        left
    }
}

/// A containerd of the scratch directory's own: its root, state, sockets
/// (S/containerd.sock) and `opt` directory (by default /opt/containerd)
/// there, its CRI plugin off.
pub fn start_daemon(s: &Scratch) -> Daemon {
    let config = format!(
        r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  level = "debug"
[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
"#,
        root = s.str("containerd/root"),
        state = s.str("containerd/state"),
        sock = s.str("containerd.sock"),
        opt = s.str("containerd/opt"),
    );
    std::fs::write(s.path("containerd.toml"), config).unwrap();
    let mut cmd = Command::new("containerd");
    cmd.arg("--config").arg(s.path("containerd.toml"));
    Daemon::start(
        "containerd",
        cmd,
        &s.path("containerd.log"),
        &s.path("containerd.sock"),
    )
}

impl Client for Containerd {
    fn reset(&self) -> Vec<String> {
        let out = self.ctr(&["containers", "ls", "-q"]);
        let ids: Vec<String> = out.stdout.lines().map(|l| l.trim().to_string()).collect();
        for id in &ids {
            self.ctr(&["task", "kill", "-s", "KILL", id]);
            self.ctr(&["task", "delete", "--force", id]);
            self.ctr(&["containers", "rm", id]);
        }
        ids.into_iter().map(|i| format!("container {i}")).collect()
    }

    fn log_tail(&self) -> String {
        self.daemon.log_tail(40)
    }
}

#[test]
fn containerd_with_ctr() {
    let mut c = Containerd::start();
    let mut s = Suite::new("containerd");
    s.scenario(&c, "run --rm", || run_rm(&c));
    s.scenario(&c, "run -d, task exec with and without -t", || exec(&c));
    s.scenario(&c, "task pause and resume", || pause_resume(&c));
    s.scenario(&c, "task kill: TERM, then KILL", || kill(&c));
    s.scenario(&c, "task delete", || delete(&c));
    s.scenario(&c, "resources at run: memory and cpu", || resources(&c));
    s.scenario(&c, "task metrics", || metrics(&c));
    s.scenario(&c, "an OOM kill is reported", || oom(&c));
    s.scenario(
        &c,
        "a failing start: the runtime's error reaches the user",
        || failing_start(&c),
    );
    let left = c.shutdown();
    s.finish(left);
}

/// The container's output comes back, its exit code is ctr's, and nothing
/// of it remains afterwards.
fn run_rm(c: &Containerd) {
    let out = c.run(
        &["--rm"],
        "rm",
        &["sh", "-c", "echo hello; cat /proc/self/cgroup"],
    );
    out.ok();
    assert!(out.stdout.starts_with("hello\n"), "{out:?}");
    let want = format!("{}/rm", c.s.cgroup);
    assert!(
        out.stdout.lines().any(|l| l.ends_with(&want)),
        "the container runs in {want}: {out:?}"
    );
    let out = c.run(&["--rm"], "rm-status", &["sh", "-c", "exit 42"]);
    assert_eq!(out.code, 42, "ctr exits with the container's code: {out:?}");
    assert!(
        c.ctr(&["containers", "ls", "-q"]).stdout.trim().is_empty(),
        "--rm removed the containers"
    );
    assert!(c.runtime_state("rm").is_none() && c.runtime_state("rm-status").is_none());
}

fn exec(c: &Containerd) {
    c.run(&["-d"], "exec", &["sleep", "1000"]).ok();
    let st = c
        .runtime_state("exec")
        .expect("the runtime has the container");
    assert_eq!(st["status"], "running", "{st}");
    let out = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "exec",
        "sh",
        "-c",
        "tty; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo out; echo err >&2",
    ]);
    out.ok();
    assert_eq!(out.stdout, "not a tty\nsleep 1000 \nout\n", "{out:?}");
    assert_eq!(out.stderr, "err\n", "{out:?}");
    let out = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e2",
        "exec",
        "sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(out.code, 7, "ctr exits with the process's code: {out:?}");
    // -t: a pty of the runtime's console socket, relayed to ctr's terminal.
    let (seen, code) = run_on_pty(c.ctr_cmd(&[
        "task",
        "exec",
        "-t",
        "--exec-id",
        "e3",
        "exec",
        "sh",
        "-c",
        "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-terminal",
    ]));
    assert_eq!(code, 0, "{seen:?}");
    assert!(seen.contains("/dev/pts/0"), "{seen:?}");
    assert!(seen.contains("stdio-is-a-terminal"), "{seen:?}");
    c.ctr(&["task", "kill", "-s", "KILL", "exec"]).ok();
}

fn pause_resume(c: &Containerd) {
    c.run(
        &["-d"],
        "pause",
        &[
            "sh",
            "-c",
            "while :; do date +%s%N > /tmp/tick; sleep 0.02; done",
        ],
    )
    .ok();
    c.ctr(&["task", "pause", "pause"]).ok();
    assert_eq!(c.task_status("pause").as_deref(), Some("PAUSED"));
    assert_eq!(c.runtime_state("pause").unwrap()["status"], "paused");
    let freezer = if cgroup_v2() {
        format!("/sys/fs/cgroup{}/pause/cgroup.freeze", c.s.cgroup)
    } else {
        format!("/sys/fs/cgroup/freezer{}/pause/freezer.state", c.s.cgroup)
    };
    let frozen = std::fs::read_to_string(&freezer).unwrap();
    assert!(
        frozen == "FROZEN\n" || frozen == "1\n",
        "{freezer}: {frozen}"
    );
    c.ctr(&["task", "resume", "pause"]).ok();
    assert_eq!(c.task_status("pause").as_deref(), Some("RUNNING"));
    let tick = || {
        let out = c.ctr(&[
            "task",
            "exec",
            "--exec-id",
            "t",
            "pause",
            "cat",
            "/tmp/tick",
        ]);
        out.ok();
        out.stdout
    };
    let first = tick();
    wait_for("the loop to tick again after resume", || tick() != first);
    c.ctr(&["task", "kill", "-s", "KILL", "pause"]).ok();
}

/// TERM reaches a process that handles it; one that ignores it stays
/// until KILL. The exit status is what the task reports.
fn kill(c: &Containerd) {
    c.run(
        &["-d"],
        "term",
        &[
            "sh",
            "-c",
            "trap 'exit 3' TERM; while :; do sleep 0.05; done",
        ],
    )
    .ok();
    c.ctr(&["task", "kill", "term"]).ok();
    wait_for("the task to stop on TERM", || {
        c.task_status("term").as_deref() == Some("STOPPED")
    });
    let out = c.ctr(&["task", "delete", "term"]);
    out.ok();
    assert!(out.stderr.contains("exit code 3"), "{out:?}");

    c.run(
        &["-d"],
        "kill",
        &["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"],
    )
    .ok();
    c.ctr(&["task", "kill", "kill"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(c.task_status("kill").as_deref(), Some("RUNNING"));
    c.ctr(&["task", "kill", "-s", "KILL", "kill"]).ok();
    wait_for("the task to stop on KILL", || {
        c.task_status("kill").as_deref() == Some("STOPPED")
    });
    let out = c.ctr(&["task", "delete", "kill"]);
    out.ok();
    assert!(out.stderr.contains("exit code 137"), "{out:?}");
}

/// A running task is not deleted without --force; with it, the task, the
/// runtime's state, the rootfs mount and the cgroup all go.
fn delete(c: &Containerd) {
    c.run(&["-d"], "delete", &["sleep", "1000"]).ok();
    let pid = c.runtime_state("delete").unwrap()["pid"].as_i64().unwrap();
    let out = c.ctr(&["task", "delete", "delete"]);
    assert_ne!(out.code, 0, "a running task is not deleted: {out:?}");
    assert_eq!(c.task_status("delete").as_deref(), Some("RUNNING"));
    c.ctr(&["task", "delete", "--force", "delete"]).ok();
    assert_eq!(c.task_status("delete"), None);
    assert!(
        c.runtime_state("delete").is_none(),
        "the runtime's state went"
    );
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains("/delete/rootfs"),
        "the rootfs is unmounted"
    );
    c.ctr(&["containers", "rm", "delete"]).ok();
    for h in crate::common::cgroup_hierarchies() {
        let d = h.join(format!("{}/delete", c.s.cgroup.trim_start_matches('/')));
        assert!(!d.exists(), "{} is removed", d.display());
    }
}

/// ctr 1.6 has no `task update`: memory and cpu limits are given at run,
/// and read in the container's cgroup on the host (ctr's default spec
/// mounts no cgroup filesystem in the container).
fn resources(c: &Containerd) {
    c.run(
        &[
            "-d",
            "--memory-limit",
            "67108864",
            "--cpu-quota",
            "50000",
            "--cpu-period",
            "100000",
            "--cpu-shares",
            "512",
        ],
        "resources",
        &["sleep", "1000"],
    )
    .ok();
    let cg = format!("{}/resources", c.s.cgroup);
    let read = |ctl: &str, file: &str| {
        let p = cgroup_file(ctl, &cg, file);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .trim()
            .to_string()
    };
    if cgroup_v2() {
        assert_eq!(read("", "memory.max"), "67108864");
        assert_eq!(read("", "cpu.max"), "50000 100000");
    } else {
        assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(read("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(read("cpu", "cpu.shares"), "512");
    }
    c.ctr(&["task", "kill", "-s", "KILL", "resources"]).ok();
}

fn metrics(c: &Containerd) {
    c.run(
        &["-d", "--memory-limit", "67108864"],
        "metrics",
        &["sh", "-c", "sleep 1000 & sleep 1000 & wait"],
    )
    .ok();
    let out = c.ctr(&["task", "metrics", "--format", "json", "metrics"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let d = &v;
    let (usage, limit, pids) = if cgroup_v2() {
        (
            &d["memory"]["usage"],
            &d["memory"]["usage_limit"],
            &d["pids"]["current"],
        )
    } else {
        (
            &d["memory"]["usage"]["usage"],
            &d["memory"]["usage"]["limit"],
            &d["pids"]["current"],
        )
    };
    assert!(usage.as_u64().unwrap_or(0) > 0, "memory usage: {v}");
    assert_eq!(limit.as_u64(), Some(67108864), "{v}");
    assert_eq!(pids.as_u64(), Some(3), "sh and two sleeps: {v}");
    c.ctr(&["task", "kill", "-s", "KILL", "metrics"]).ok();
}

/// An allocation over the limit kills the container; containerd says so
/// in a /tasks/oom event and the task's status is 137.
fn oom(c: &Containerd) {
    let mut events = c.ctr_cmd(&["events"]);
    let log = c.s.path("events.log");
    events
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null());
    let mut events = events.spawn().unwrap();
    // ctr subscribes before it prints anything: give it a moment.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = c.run(
        &["--rm", "--memory-limit", "16777216"],
        "oom",
        &[
            "sh",
            "-c",
            "x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo survived",
        ],
    );
    let seen = || std::fs::read_to_string(&log).unwrap();
    let waited = std::panic::catch_unwind(|| {
        wait_for("a /tasks/oom event", || {
            seen()
                .lines()
                .any(|l| l.contains("/tasks/oom") && l.contains("\"oom\""))
        })
    });
    let _ = events.kill();
    let _ = events.wait();
    assert_eq!(out.code, 137, "{out:?}");
    assert!(!out.stdout.contains("survived"));
    assert!(waited.is_ok(), "events: {}", seen());
}

/// The runtime's error, written to the --log the shim gave it, is what
/// ctr prints; nothing of the container remains.
fn failing_start(c: &Containerd) {
    let out = c.run(&["--rm"], "fail", &["/nosuch"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("exec: \"/nosuch\"")
            && out.stderr.contains("no such file or directory"),
        "the runtime's error in ctr's: {out:?}"
    );
    assert!(c.runtime_state("fail").is_none());
    assert!(c.ctr(&["containers", "ls", "-q"]).stdout.trim().is_empty());
}
