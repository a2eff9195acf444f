//! podman 4.3 rootless, as an ordinary user the test makes (issue 15):
//! podman makes a user namespace from the user's /etc/subuid and
//! /etc/subgid ranges (newuidmap), keeps it open with its pause process,
//! and runs the runtime as uid 0 in it, where berth is rootless without
//! being an ordinary uid. Everything of podman's is the user's own: a
//! containers.conf and storage.conf under the user's home, storage there
//! (native overlay, which kernel 6.18 allows in a user namespace), run
//! state in an XDG_RUNTIME_DIR the test makes (no logind here), file
//! locks, `--network none` (no slirp4netns needed). At the end podman's
//! pause process is stopped (`podman system migrate`) and nothing of the
//! user may be left: no process, no mount, no file in /dev/shm or /var/tmp.

use crate::common::user::TestUser;
use crate::image::{IMAGE, oci_archive};
use crate::podman::{exec, exec_tty, exit_codes, stop};
use crate::suite::{Client, DockerCli, Suite, kill, runtime, wait_for};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct RootlessPodman {
    user: TestUser,
    /// The runtime as the user runs it (a copy in the user's bin).
    runtime: PathBuf,
    /// Where the runtime keeps its state: $XDG_RUNTIME_DIR/NAME, its
    /// rootless default (podman gives it no --root).
    runtime_root: PathBuf,
}

impl RootlessPodman {
    fn start() -> RootlessPodman {
        let rt = runtime();
        let user = TestUser::new(&[rt.path.to_str().unwrap()]);
        let runtime = user.bin.join(rt.path.file_name().unwrap());
        let runtime_root = user.xdg.join(rt.path.file_name().unwrap());
        let conf = user.home.join(".config/containers");
        std::fs::create_dir_all(&conf).unwrap();
        // default_ulimits: podman's default nofile (1048576) is above this
        // machine's hard limit (20000), which a user cannot raise. File
        // locks: the default shm lock would leave /dev/shm/libpod_rootless_lock_UID.
        std::fs::write(
            conf.join("containers.conf"),
            format!(
                r#"[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
image_copy_tmp_dir = "{tmp}"
[network]
network_backend = "cni"
network_config_dir = "{cni}"
"#,
                tmp = user.home.join("tmp").display(),
                cni = user.home.join("cni").display(),
            ),
        )
        .unwrap();
        std::fs::write(
            conf.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"overlay\"\nrunroot = \"{}\"\ngraphroot = \"{}\"\n",
                user.xdg.join("containers").display(),
                user.home.join("storage").display(),
            ),
        )
        .unwrap();
        for d in ["tmp", "cni", "image"] {
            std::fs::create_dir_all(user.home.join(d)).unwrap();
        }
        let archive = oci_archive(&user.home.join("image"));
        user.chown_all(&user.home);
        let p = RootlessPodman {
            user,
            runtime,
            runtime_root,
        };
        let info = p.cli(&[
            "info",
            "--format",
            "{{.Host.Security.Rootless}} {{.Store.GraphDriverName}}",
        ]);
        assert_eq!(
            info.stdout.trim(),
            "true overlay",
            "rootless podman with native overlay: {info:?}"
        );
        p.cli(&["load", "-i", archive.to_str().unwrap()]).ok();
        p
    }

    /// Stops podman's pause process (which holds its user and mount
    /// namespaces), and says what of the user outlived it.
    fn shutdown(&self) -> Vec<String> {
        let mut left = self.reset();
        // conmon's exit commands (podman container cleanup) may still run.
        let start = Instant::now();
        while self.others().len() > 1 && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = self.cli(&["system", "migrate"]);
        if out.code != 0 {
            left.push(format!("podman system migrate failed: {out:?}"));
        }
        let pause = self.user.xdg.join("libpod/tmp/pause.pid");
        if let Some(pid) = std::fs::read_to_string(&pause)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            && Path::new(&format!("/proc/{pid}")).exists()
            && owner(pid) == Some(self.user.uid)
        {
            left.push(format!("podman's pause process {pid} outlived migrate"));
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        left.extend(self.sweep());
        left
    }

    /// The user's processes (zombies included until reaped), as "pid args".
    fn others(&self) -> Vec<(i32, String)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
                continue;
            };
            if owner(pid) == Some(self.user.uid) {
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                out.push((pid, String::from_utf8_lossy(&cmd).replace('\0', " ")));
            }
        }
        out
    }

    /// Waits for the user's processes to go (killing them after 20 s), and
    /// names them, the host's mounts under the user's directories and the
    /// user's files in /dev/shm and /var/tmp.
    fn sweep(&self) -> Vec<String> {
        let mut found = Vec::new();
        let start = Instant::now();
        while !self.others().is_empty() {
            if start.elapsed() > Duration::from_secs(20) {
                for (pid, cmd) in self.others() {
                    found.push(format!("process {pid}: {cmd}"));
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let top = self.user.home.parent().unwrap();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        for point in info.lines().filter_map(|l| l.split(' ').nth(4)) {
            if Path::new(point).starts_with(top) {
                found.push(format!("mount {point}"));
            }
        }
        for dir in ["/dev/shm", "/var/tmp"] {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                use std::os::unix::fs::MetadataExt;
                if e.metadata().is_ok_and(|m| m.uid() == self.user.uid) {
                    found.push(format!("{} is the user's", e.path().display()));
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        found
    }
}

/// The real uid of process `pid`.
fn owner(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl DockerCli for RootlessPodman {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.user.cmd("podman", &[]);
        // podman finds its configuration and storage from HOME.
        c.env("HOME", &self.user.home)
            .arg("--runtime")
            .arg(&self.runtime)
            .args(args);
        c
    }

    fn run_args(&self, flags: &[&str], cmd: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = ["run", "--pull=never", "--network", "none"]
            .map(String::from)
            .to_vec();
        a.extend(flags.iter().map(|f| f.to_string()));
        a.push(IMAGE.into());
        a.extend(cmd.iter().map(|f| f.to_string()));
        a
    }

    fn runtime_root(&self) -> (&Path, PathBuf) {
        (&self.runtime, self.runtime_root.clone())
    }
}

impl Client for RootlessPodman {
    fn reset(&self) -> Vec<String> {
        let out = self.cli(&["ps", "-a", "--format", "{{.Names}}"]);
        let names: Vec<String> = out.stdout.lines().map(|l| l.trim().to_string()).collect();
        if !names.is_empty() {
            self.cli(&["rm", "-f", "-a", "-t", "0"]);
        }
        names
            .into_iter()
            .map(|n| format!("container {n}"))
            .collect()
    }

    fn log_tail(&self) -> String {
        let events = std::fs::read_to_string(self.user.xdg.join("libpod/tmp/events/events.log"))
            .unwrap_or_default();
        let lines: Vec<&str> = events.lines().collect();
        format!(
            "(rootless podman has no daemon; its last events)\n{}",
            lines[lines.len().saturating_sub(20)..].join("\n")
        )
    }
}

#[test]
fn podman_rootless() {
    let p = RootlessPodman::start();
    let mut s = Suite::new("podman rootless");
    s.scenario(&p, "run --rm in the user's namespace", || run_rm(&p));
    s.scenario(&p, "run -d and exec", || exec(&p));
    s.scenario(&p, "exec -it on a pty", || exec_tty(&p));
    s.scenario(&p, "stop: SIGTERM, then SIGKILL after the timeout", || {
        stop(&p)
    });
    s.scenario(&p, "kill", || kill(&p));
    s.scenario(&p, "rm and rm -f", || rm(&p));
    s.scenario(
        &p,
        "exit codes 127 and 126 from the runtime's error",
        || exit_codes(&p),
    );
    let left = p.shutdown();
    s.finish(left);
}

/// The container's root is the user, its other ids the user's subordinate
/// range; podman's ulimits reach it; the exit code comes back.
fn run_rm(p: &RootlessPodman) {
    let out = p.run(
        &["--rm"],
        &[
            "sh",
            "-c",
            "echo hello; id -u; ulimit -n; cat /proc/self/uid_map /proc/self/gid_map; ls -l /dev/null",
        ],
    );
    out.ok();
    let u = &p.user;
    let maps: Vec<Vec<String>> = out
        .stdout
        .lines()
        .skip(3)
        .take(4)
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    let own = |id: u32| vec!["0".to_string(), id.to_string(), "1".into()];
    let sub = vec!["1".to_string(), u.sub_start.to_string(), "65536".into()];
    assert!(out.stdout.starts_with("hello\n0\n1024\n"), "{out:?}");
    assert_eq!(
        maps,
        [own(u.uid), sub.clone(), own(u.gid), sub],
        "root in the container is the user, the rest its ranges: {out:?}"
    );
    // /dev/null is the host's node, bound (no mknod in a user namespace).
    assert!(out.stdout.contains("crw-rw-rw-"), "{out:?}");
    let out = p.run(&["--rm"], &["sh", "-c", "exit 42"]);
    assert_eq!(
        out.code, 42,
        "podman exits with the container's code: {out:?}"
    );
    let out = p.cli(&["ps", "-a", "-q"]);
    assert!(out.stdout.trim().is_empty(), "--rm removed them: {out:?}");
    assert!(runtime_containers(p).is_empty(), "the runtime's state went");
}

/// `rm` refuses a running container; `rm -f` removes it: its processes,
/// and its state in the runtime's root.
fn rm(p: &RootlessPodman) {
    p.run(&["-d", "--name", "rm"], &["sleep", "1000"]).ok();
    let pid = p.inspect("rm", "{{.State.Pid}}");
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "pid {pid}");
    assert_eq!(owner(pid.parse().unwrap()), Some(p.user.uid));
    let st = p
        .runtime_state("rm")
        .expect("the runtime has the container");
    assert_eq!(st["status"], "running", "{st}");
    let out = p.cli(&["rm", "rm"]);
    assert_ne!(out.code, 0, "a running container is not removed: {out:?}");
    p.cli(&["rm", "-f", "-t", "0", "rm"]).ok();
    assert!(p.cli(&["ps", "-a", "-q"]).stdout.trim().is_empty());
    wait_for("the container's process to go", || {
        !Path::new(&format!("/proc/{pid}")).exists()
    });
    assert!(
        runtime_containers(p).is_empty(),
        "the runtime's state went: {:?}",
        runtime_containers(p)
    );
}

/// The containers in the runtime's state root.
fn runtime_containers(p: &RootlessPodman) -> Vec<String> {
    std::fs::read_dir(&p.runtime_root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}
