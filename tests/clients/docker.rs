//! dockerd 20.10 with berth as an extra runtime (`--add-runtime berth=...`):
//! a private data root, exec root, pidfile, socket and trust key, over a
//! private containerd (dockerd's own would make /opt/containerd), no bridge,
//! no iptables rules, no forwarding: the host's network stays as it was.

use crate::common::{Out, cgroup_file, cgroup_v2};
use crate::containerd::start_daemon;
use crate::daemon::Daemon;
use crate::host::Scratch;
use crate::image::{IMAGE, rootfs_tar};
use crate::suite::{Client, DockerCli, Runtime, Suite, kill, run_on_pty, runtime};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Docker {
    // Dropped in this order: dockerd, then its containerd, then the sweep.
    dockerd: Daemon,
    containerd: Daemon,
    pub s: Scratch,
    pub rt: Runtime,
}

impl Docker {
    pub fn start() -> Docker {
        let s = Scratch::new("docker");
        let rt = runtime();
        let containerd = start_daemon(&s);
        // No /etc/docker/daemon.json: a config file of its own, and the
        // trust key in the scratch directory (by default /etc/docker/key.json;
        // dockerd 20.10 takes its path from daemon.json only).
        let config = serde_json::json!({"deprecated-key-path": s.str("key.json")});
        std::fs::write(s.path("daemon.json"), config.to_string()).unwrap();
        let mut cmd = Command::new("dockerd");
        cmd.arg("--config-file")
            .arg(s.path("daemon.json"))
            .arg("--data-root")
            .arg(s.path("data"))
            .arg("--exec-root")
            .arg(s.path("exec"))
            .arg("--pidfile")
            .arg(s.path("docker.pid"))
            .arg("--host")
            .arg(format!("unix://{}", s.str("docker.sock")))
            .arg("--containerd")
            .arg(s.path("containerd.sock"))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--userland-proxy=false",
                "--storage-driver=overlay2",
                "--exec-opt=native.cgroupdriver=cgroupfs",
            ])
            .arg("--cgroup-parent")
            .arg(&s.cgroup)
            .arg("--add-runtime")
            .arg(format!("berth={}", rt.path.display()))
            .env("DOCKER_CONFIG", s.path("client"));
        let dockerd = Daemon::start(
            "dockerd",
            cmd,
            &s.path("dockerd.log"),
            &s.path("docker.sock"),
        );
        let d = Docker {
            dockerd,
            containerd,
            s,
            rt,
        };
        let tar = rootfs_tar(&d.s.dir);
        d.docker(&[
            "import",
            "--change",
            "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            "CMD [\"sh\"]",
            tar.to_str().unwrap(),
            IMAGE,
        ])
        .ok();
        d
    }

    pub fn docker(&self, args: &[&str]) -> Out {
        self.cli(args)
    }

    pub fn cgroup(&self, name: &str) -> String {
        format!("{}/{}", self.s.cgroup, self.inspect(name, "{{.Id}}"))
    }

    pub fn shutdown(&mut self) -> Vec<String> {
        let mut left = self.reset();
        if let Err(e) = self.dockerd.stop() {
            left.push(e);
        }
        if let Err(e) = self.containerd.stop() {
            left.push(e);
        }
        left.extend(self.s.sweep());
        left
    }
}

impl DockerCli for Docker {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env(
            "DOCKER_HOST",
            format!("unix://{}", self.s.str("docker.sock")),
        )
        .env("DOCKER_CONFIG", self.s.path("client"))
        .args(args);
        cmd
    }

    /// `docker run --runtime berth` with no network and no pull, then
    /// `flags`, the image and the command.
    fn run_args(&self, flags: &[&str], cmd: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = [
            "run",
            "--runtime",
            "berth",
            "--pull",
            "never",
            "--network",
            "none",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(flags.iter().map(|f| f.to_string()));
        a.push(IMAGE.into());
        a.extend(cmd.iter().map(|f| f.to_string()));
        a
    }

    /// dockerd 20.10 gives every runtime runc's root under its exec root, per
    /// containerd namespace.
    fn runtime_root(&self) -> (&std::path::Path, std::path::PathBuf) {
        (&self.rt.path, self.s.path("exec/runtime-runc/moby"))
    }
}

impl Client for Docker {
    fn reset(&self) -> Vec<String> {
        let out = self.docker(&["ps", "-a", "-q"]);
        let ids: Vec<&str> = out.stdout.split_whitespace().collect();
        if !ids.is_empty() {
            let mut a = vec!["rm", "-f"];
            a.extend(&ids);
            self.docker(&a);
        }
        ids.into_iter().map(|i| format!("container {i}")).collect()
    }

    fn log_tail(&self) -> String {
        self.dockerd.log_tail(40)
    }
}

#[test]
fn docker() {
    let mut d = Docker::start();
    let mut s = Suite::new("docker");
    s.scenario(&d, "run --rm", || run_rm(&d));
    s.scenario(&d, "run -d and exec, also -it on a pty", || exec(&d));
    s.scenario(&d, "update", || update(&d));
    s.scenario(&d, "stop: TERM, then KILL after the timeout", || stop(&d));
    s.scenario(&d, "restart", || restart(&d));
    s.scenario(&d, "kill", || kill(&d));
    s.scenario(&d, "--init", || init(&d));
    s.scenario(&d, "--read-only", || read_only(&d));
    s.scenario(&d, "--cap-drop ALL", || cap_drop(&d));
    s.scenario(&d, "--security-opt no-new-privileges", || nnp(&d));
    s.scenario(&d, "an OOM kill", || oom(&d));
    s.scenario(&d, "a missing command: 127", || missing(&d));
    let left = d.shutdown();
    s.finish(left);
}

fn run_rm(d: &Docker) {
    let out = d.run(
        &["--rm"],
        &["sh", "-c", "echo hello; cat /proc/self/cgroup"],
    );
    out.ok();
    assert!(out.stdout.starts_with("hello\n"), "{out:?}");
    assert!(
        out.stdout.contains(&format!(":{}/", d.s.cgroup)),
        "the container runs under {}: {out:?}",
        d.s.cgroup
    );
    let out = d.run(&["--rm"], &["sh", "-c", "exit 42"]);
    assert_eq!(out.code, 42, "{out:?}");
    assert!(d.docker(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}

fn exec(d: &Docker) {
    d.run(&["-d", "--name", "exec"], &["sleep", "1000"]).ok();
    let st = d.runtime_state("exec").expect("berth has the container");
    assert_eq!(st["status"], "running", "{st}");
    let out = d.docker(&[
        "exec",
        "exec",
        "sh",
        "-c",
        "tty; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo err >&2",
    ]);
    out.ok();
    assert_eq!(out.stdout, "not a tty\nsleep 1000 \n", "{out:?}");
    assert_eq!(out.stderr, "err\n", "{out:?}");
    let out = d.docker(&["exec", "exec", "sh", "-c", "exit 7"]);
    assert_eq!(out.code, 7, "{out:?}");
    let (seen, code) = run_on_pty(d.cmd(&[
        "exec",
        "-it",
        "exec",
        "sh",
        "-c",
        "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-terminal",
    ]));
    assert_eq!(code, 0, "{seen:?}");
    assert!(seen.contains("/dev/pts/"), "{seen:?}");
    assert!(seen.contains("stdio-is-a-terminal"), "{seen:?}");
}

fn update(d: &Docker) {
    d.run(&["-d", "--name", "update"], &["sleep", "1000"]).ok();
    d.docker(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "update",
    ])
    .ok();
    let cg = d.cgroup("update");
    let read = |ctl: &str, file: &str| {
        let f = cgroup_file(ctl, &cg, file);
        std::fs::read_to_string(&f)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
            .trim()
            .to_string()
    };
    if cgroup_v2() {
        assert_eq!(read("", "memory.max"), "67108864");
        assert_eq!(read("", "cpu.max"), "50000 100000");
        assert_eq!(read("", "pids.max"), "50");
    } else {
        assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(read("memory", "memory.memsw.limit_in_bytes"), "134217728");
        assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(read("pids", "pids.max"), "50");
    }
    assert_eq!(d.inspect("update", "{{.HostConfig.Memory}}"), "67108864");
}

fn stop(d: &Docker) {
    d.run(
        &["-d", "--name", "term"],
        &[
            "sh",
            "-c",
            "trap 'exit 3' TERM; while :; do sleep 0.05; done",
        ],
    )
    .ok();
    let t = Instant::now();
    d.docker(&["stop", "-t", "10", "term"]).ok();
    assert!(t.elapsed() < Duration::from_secs(8), "TERM was enough");
    assert_eq!(d.inspect("term", "{{.State.ExitCode}}"), "3");

    d.run(
        &["-d", "--name", "ignore"],
        &["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"],
    )
    .ok();
    let t = Instant::now();
    d.docker(&["stop", "-t", "2", "ignore"]).ok();
    assert!(t.elapsed() >= Duration::from_secs(2));
    assert_eq!(d.inspect("ignore", "{{.State.ExitCode}}"), "137");
}

/// The same container again: a new process, the writable layer kept.
fn restart(d: &Docker) {
    d.run(
        &["-d", "--name", "restart"],
        &[
            "sh",
            "-c",
            "echo run >> /runs; trap 'exit 0' TERM; while :; do sleep 0.05; done",
        ],
    )
    .ok();
    let pid = d.inspect("restart", "{{.State.Pid}}");
    d.docker(&["restart", "-t", "5", "restart"]).ok();
    assert_eq!(d.inspect("restart", "{{.State.Status}}"), "running");
    assert_ne!(d.inspect("restart", "{{.State.Pid}}"), pid);
    let out = d.docker(&["exec", "restart", "cat", "/runs"]);
    out.ok();
    assert_eq!(out.stdout, "run\nrun\n", "{out:?}");
    assert_eq!(d.runtime_state("restart").unwrap()["status"], "running");
}

/// docker-init (Debian's tini) is pid 1 and the command its child.
fn init(d: &Docker) {
    let out = d.run(
        &["--rm", "--init"],
        &[
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$",
        ],
    );
    out.ok();
    let mut lines = out.stdout.lines();
    let pid1 = lines.next().unwrap_or_default();
    assert!(pid1.starts_with("/sbin/docker-init -- sh -c"), "{out:?}");
    assert_ne!(lines.next(), Some("1"), "the shell is not pid 1: {out:?}");
}

fn read_only(d: &Docker) {
    let out = d.run(
        &["--rm", "--read-only"],
        &[
            "sh",
            "-c",
            "touch /x 2>&1; touch /dev/shm/x && echo shm-writable",
        ],
    );
    out.ok();
    assert!(out.stdout.contains("Read-only file system"), "{out:?}");
    assert!(out.stdout.contains("shm-writable"), "{out:?}");
}

fn cap_drop(d: &Docker) {
    let out = d.run(
        &["--rm", "--cap-drop", "ALL"],
        &[
            "sh",
            "-c",
            "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status; chown 1 /tmp 2>&1; true",
        ],
    );
    out.ok();
    for cap in ["CapPrm", "CapEff", "CapBnd"] {
        assert!(
            out.stdout.contains(&format!("{cap}:\t0000000000000000")),
            "{cap}: {out:?}"
        );
    }
    assert!(out.stdout.contains("Operation not permitted"), "{out:?}");
}

fn nnp(d: &Docker) {
    let out = d.run(
        &["--rm", "--security-opt", "no-new-privileges"],
        &["grep", "NoNewPrivs", "/proc/self/status"],
    );
    out.ok();
    assert_eq!(out.stdout, "NoNewPrivs:\t1\n", "{out:?}");
    let out = d.run(&["--rm"], &["grep", "NoNewPrivs", "/proc/self/status"]);
    assert_eq!(out.stdout, "NoNewPrivs:\t0\n", "{out:?}");
}

/// docker learns of the OOM from containerd's event, as a user sees it in
/// State.OOMKilled.
fn oom(d: &Docker) {
    let out = d.run(
        &["--name", "oom", "--memory", "16m", "--memory-swap", "16m"],
        &[
            "sh",
            "-c",
            "x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo survived",
        ],
    );
    assert_eq!(out.code, 137, "{out:?}");
    assert!(!out.stdout.contains("survived"));
    assert_eq!(d.inspect("oom", "{{.State.OOMKilled}}"), "true");
}

fn missing(d: &Docker) {
    let out = d.run(&["--rm"], &["nosuch"]);
    assert_eq!(out.code, 127, "{out:?}");
    assert!(out.stderr.contains("executable file not found"), "{out:?}");
    let out = d.run(&["--rm"], &["/etc/passwd"]);
    assert_eq!(out.code, 126, "{out:?}");
    assert!(d.docker(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}
