//! Scenarios of one client, run one after another against its daemon: each
//! passes or fails on its own (a failure shows the daemon's log), the
//! client's containers are removed after each, and the test fails at the
//! end if any scenario did.

use crate::common::{Out, run_with_timeout, tty};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long one client command may take.
pub const LIMIT: Duration = Duration::from_secs(90);

/// The runtime the clients are given: berth, or with
/// BERTH_CLIENTS_RUNTIME=runc (or a path) Debian's runc, to tell a limit of
/// a client on this machine from a bug of berth's.
pub struct Runtime {
    pub name: &'static str,
    pub path: PathBuf,
}

pub fn runtime() -> Runtime {
    match std::env::var("BERTH_CLIENTS_RUNTIME").ok().as_deref() {
        None | Some("") | Some("berth") => Runtime {
            name: "berth",
            path: PathBuf::from(crate::common::berth_bin()),
        },
        Some("runc") => Runtime {
            name: "runc",
            path: PathBuf::from("/usr/sbin/runc"),
        },
        Some(p) => Runtime {
            name: "runc",
            path: PathBuf::from(p),
        },
    }
}

/// What the suite needs of a client between scenarios.
pub trait Client {
    /// Removes every container the client knows; names what it removed.
    fn reset(&self) -> Vec<String>;
    /// The daemon's log, shown when a scenario fails.
    fn log_tail(&self) -> String;
}

/// What docker's and podman's command lines share: `run` of the test image
/// with the client's own fixed flags, `inspect`, and the runtime's own view
/// of a container from the root the client has it keep its state in.
pub trait DockerCli {
    /// The client's command (`docker`, `podman`) in its private world.
    fn cmd(&self, args: &[&str]) -> Command;
    /// `run` with the client's fixed flags, then `flags`, the image and `cmd`.
    fn run_args(&self, flags: &[&str], cmd: &[&str]) -> Vec<String>;
    /// The runtime binary, and the --root the client runs it with.
    fn runtime_root(&self) -> (&Path, PathBuf);

    fn cli(&self, args: &[&str]) -> Out {
        run(self.cmd(args))
    }

    fn run(&self, flags: &[&str], cmd: &[&str]) -> Out {
        let a = self.run_args(flags, cmd);
        self.cli(&a.iter().map(|s| s.as_str()).collect::<Vec<_>>())
    }

    fn inspect(&self, name: &str, format: &str) -> String {
        let out = self.cli(&["inspect", "--format", format, name]);
        out.ok();
        out.stdout.trim().to_string()
    }

    fn runtime_state(&self, name: &str) -> Option<serde_json::Value> {
        let id = self.inspect(name, "{{.Id}}");
        let (bin, root) = self.runtime_root();
        let mut cmd = Command::new(bin);
        cmd.arg("--root").arg(root).args(["state", &id]);
        let out = run(cmd);
        (out.code == 0).then(|| serde_json::from_str(&out.stdout).unwrap())
    }
}

/// `kill -s USR1` reaches the container's trap; a plain `kill` is SIGKILL
/// (137): the same for docker and podman.
pub fn kill<C: DockerCli>(d: &C) {
    d.run(
        &["-d", "--name", "kill"],
        &[
            "sh",
            "-c",
            "trap 'exit 5' USR1; while :; do sleep 0.05; done",
        ],
    )
    .ok();
    d.cli(&["kill", "-s", "USR1", "kill"]).ok();
    wait_for("the container to exit on USR1", || {
        d.inspect("kill", "{{.State.Status}}") == "exited"
    });
    assert_eq!(d.inspect("kill", "{{.State.ExitCode}}"), "5");
    d.run(&["-d", "--name", "kill9"], &["sleep", "1000"]).ok();
    d.cli(&["kill", "kill9"]).ok();
    wait_for("the container to exit on KILL", || {
        d.inspect("kill9", "{{.State.Status}}") == "exited"
    });
    assert_eq!(d.inspect("kill9", "{{.State.ExitCode}}"), "137");
}

pub struct Suite {
    client: &'static str,
    passed: usize,
    failed: Vec<String>,
    skipped: usize,
    start: Instant,
    only: Option<String>,
    skip: Vec<String>,
}

impl Suite {
    pub fn new(client: &'static str) -> Suite {
        let rt = runtime();
        println!("{client}: runtime {} ({})", rt.name, rt.path.display());
        Suite {
            client,
            passed: 0,
            failed: Vec::new(),
            skipped: 0,
            start: Instant::now(),
            // BERTH_CLIENTS_ONLY=text runs the scenarios whose names hold it.
            only: std::env::var("BERTH_CLIENTS_ONLY").ok(),
            // BERTH_CLIENTS_SKIP=a,b leaves out the scenarios whose names
            // hold a or b (the v2 guest leaves out what it would only repeat
            // of the host's run: see tests/v2/run.sh).
            skip: std::env::var("BERTH_CLIENTS_SKIP")
                .map(|v| {
                    v.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    pub fn scenario(&mut self, c: &dyn Client, name: &str, f: impl FnOnce()) {
        if self.only.as_deref().is_some_and(|o| !name.contains(o))
            || self.skip.iter().any(|s| name.contains(s.as_str()))
        {
            println!("{} {name}: not selected", self.client);
            self.skipped += 1;
            return;
        }
        let t = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(f));
        let left = c.reset();
        let secs = t.elapsed().as_secs_f64();
        match r {
            Ok(()) => {
                println!("{} {name}: ok ({secs:.1} s)", self.client);
                self.passed += 1;
            }
            Err(_) => {
                println!(
                    "{} {name}: FAILED ({secs:.1} s); removed after it: {left:?}; the daemon's log:\n{}",
                    self.client,
                    c.log_tail()
                );
                self.failed.push(name.to_string());
            }
        }
    }

    /// Ends the suite: fails if a scenario failed or if anything of the
    /// client (`left`: processes, mounts, cgroups) outlived its daemon.
    pub fn finish(self, left: Vec<String>) {
        println!(
            "{}: {} scenarios passed, {} failed, {} not selected, in {:.1} s",
            self.client,
            self.passed,
            self.failed.len(),
            self.skipped,
            self.start.elapsed().as_secs_f64()
        );
        assert!(
            self.failed.is_empty(),
            "{}: failed scenarios: {:?}",
            self.client,
            self.failed
        );
        assert!(
            left.is_empty(),
            "{}: left behind after its daemon stopped: {left:#?}",
            self.client
        );
    }
}

/// Runs a client command, bounded.
pub fn run(cmd: Command) -> Out {
    run_with_timeout(cmd, LIMIT)
}

/// Runs a client command on a new pty as its controlling terminal and
/// stdio, as from a user's terminal; everything it wrote there, and its
/// exit status. Killed after LIMIT.
pub fn run_on_pty(cmd: Command) -> (String, i32) {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let (mut master, slave) = tty::openpty(24, 80);
    let mut child = tty::spawn_on(cmd, slave);
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut exited_at: Option<Instant> = None;
    let mut eof = false;
    let mut buf = [0u8; 4096];
    // Read until the master reports EIO (every holder of the slave closed
    // it), and for at most 5 s after the command exits: a process it left
    // may hold the slave open. Then the command's status, once it exits.
    while start.elapsed() < LIMIT {
        if exited_at.is_none() && child.try_wait().unwrap().is_some() {
            exited_at = Some(Instant::now());
        }
        let drained = eof || exited_at.is_some_and(|t| t.elapsed() > Duration::from_secs(5));
        if drained && exited_at.is_some() {
            break;
        }
        if eof {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let mut pfd = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        if unsafe { libc::poll(&mut pfd, 1, 50) } > 0 {
            match master.read(&mut buf) {
                Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
                _ => eof = true,
            }
        }
    }
    if exited_at.is_none() {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    (String::from_utf8_lossy(&seen).into_owned(), code)
}

/// Waits up to 30 s for `f` to hold.
#[track_caller]
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited 30 s for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
