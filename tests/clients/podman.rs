//! podman 4.3 with conmon, as root: no daemon, but every podman command
//! gets a private world (containers.conf and storage.conf of the test's
//! own, its storage root, run root, tmp dir, network config dir and
//! runtime root in the scratch directory), the cgroupfs manager with the
//! containers under the client's cgroup parent, and `--network none`.

use crate::common::{Out, cgroup_file, cgroup_v2};
use crate::host::Scratch;
use crate::image::{IMAGE, oci_archive};
use crate::suite::{Client, DockerCli, Runtime, Suite, kill, run_on_pty, runtime, wait_for};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Podman {
    pub s: Scratch,
    pub rt: Runtime,
}

impl Podman {
    pub fn start() -> Podman {
        let s = Scratch::new("podman");
        // default_ulimits: podman's own defaults for root (nofile and
        // nproc 1048576) are above this machine's hard limits, and root
        // lacks CAP_SYS_RESOURCE to raise them. The file lock type keeps
        // podman's locks in its tmp dir (the default is /dev/shm/libpod_lock).
        let conf = format!(
            r#"[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{tmp}"
lock_type = "file"
volume_path = "{volumes}"
[network]
network_backend = "cni"
network_config_dir = "{cni}"
"#,
            tmp = s.str("tmp"),
            volumes = s.str("volumes"),
            cni = s.str("cni"),
        );
        std::fs::write(s.path("containers.conf"), conf).unwrap();
        let storage = format!(
            "[storage]\ndriver = \"overlay\"\nrunroot = \"{}\"\ngraphroot = \"{}\"\n",
            s.str("runroot"),
            s.str("root")
        );
        std::fs::write(s.path("storage.conf"), storage).unwrap();
        // The runtime's root: podman 4.3 passes --runtime-flag root=DIR to
        // create, start and kill but not to delete, which then looks in the
        // runtime's default root (/run/berth) and leaves the state and the
        // cgroup. A wrapper gives every call the private root instead.
        let rt = runtime();
        std::fs::create_dir_all(s.path("bin")).unwrap();
        let wrapper = s.path("bin").join(rt.name);
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec '{}' --root '{}' \"$@\"\n",
                rt.path.display(),
                s.str("runtime-root")
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = Podman { s, rt };
        let info = p.podman(&[
            "info",
            "--format",
            "{{.Host.CgroupManager}} {{.Host.OCIRuntime.Path}}",
        ]);
        assert_eq!(
            info.code, 0,
            "podman cannot start with its private configuration: {info:?}"
        );
        let archive = oci_archive(&p.s.dir);
        p.podman(&["load", "-i", archive.to_str().unwrap()]).ok();
        p
    }

    pub fn podman(&self, args: &[&str]) -> Out {
        self.cli(args)
    }

    /// A container's cgroup (cgroupfs manager: libpod-ID under the parent).
    pub fn cgroup(&self, name: &str) -> String {
        format!("{}/libpod-{}", self.s.cgroup, self.inspect(name, "{{.Id}}"))
    }

    /// Removes the containers and says what outlived them.
    pub fn shutdown(&mut self) -> Vec<String> {
        let mut left = self.reset();
        // conmon's exit commands (podman container cleanup) may still run.
        let start = Instant::now();
        while self.s.has_processes() && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(100));
        }
        // containers/storage mounts its overlay home on itself, for good:
        // not a leftover of a container.
        let home = self.s.path("root/overlay");
        let c = std::ffi::CString::new(home.to_str().unwrap()).unwrap();
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        left.extend(self.s.sweep());
        left
    }
}

impl DockerCli for Podman {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("podman");
        // conmon writes a file named "oom" into its working directory when
        // the container's cgroup reports one: the scratch directory, not
        // the checkout.
        cmd.current_dir(&self.s.dir);
        // CONTAINERS_CONF reaches conmon's exit command (podman container
        // cleanup) too; the flags below are passed on to it by podman.
        cmd.env("CONTAINERS_CONF", self.s.path("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.s.path("storage.conf"))
            .arg("--root")
            .arg(self.s.path("root"))
            .arg("--runroot")
            .arg(self.s.path("runroot"))
            .arg("--tmpdir")
            .arg(self.s.path("tmp"))
            .arg("--runtime")
            .arg(self.s.path("bin").join(self.rt.name))
            .arg("--cgroup-manager")
            .arg("cgroupfs")
            .args(args);
        cmd
    }

    /// `podman run` with the client's cgroup parent and no network, then
    /// `flags`, the image and the command.
    fn run_args(&self, flags: &[&str], cmd: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "run".into(),
            "--pull=never".into(),
            "--network".into(),
            "none".into(),
            "--cgroup-parent".into(),
            self.s.cgroup.clone(),
        ];
        a.extend(flags.iter().map(|f| f.to_string()));
        a.push(IMAGE.into());
        a.extend(cmd.iter().map(|f| f.to_string()));
        a
    }

    /// The root podman gives the runtime (its wrapper's --root).
    fn runtime_root(&self) -> (&std::path::Path, std::path::PathBuf) {
        (&self.rt.path, self.s.path("runtime-root"))
    }
}

impl Client for Podman {
    fn reset(&self) -> Vec<String> {
        let out = self.podman(&["ps", "-a", "--format", "{{.Names}}"]);
        let names: Vec<String> = out.stdout.lines().map(|l| l.trim().to_string()).collect();
        if !names.is_empty() {
            self.podman(&["rm", "-f", "-a", "-t", "0"]);
        }
        names
            .into_iter()
            .map(|n| format!("container {n}"))
            .collect()
    }

    fn log_tail(&self) -> String {
        let events =
            std::fs::read_to_string(self.s.path("tmp/events/events.log")).unwrap_or_default();
        let lines: Vec<&str> = events.lines().collect();
        format!(
            "(podman has no daemon; its last events)\n{}",
            lines[lines.len().saturating_sub(20)..].join("\n")
        )
    }
}

#[test]
fn podman() {
    let mut p = Podman::start();
    let mut s = Suite::new("podman");
    s.scenario(&p, "run --rm", || run_rm(&p));
    s.scenario(&p, "run -d and exec", || exec(&p));
    s.scenario(&p, "exec -it on a pty", || exec_tty(&p));
    s.scenario(&p, "stop: SIGTERM, then SIGKILL after the timeout", || {
        stop(&p)
    });
    s.scenario(&p, "kill", || kill(&p));
    s.scenario(&p, "pause and unpause", || pause(&p));
    s.scenario(&p, "rm -f of a running container", || rm_force(&p));
    s.scenario(&p, "update of memory and cpu", || update(&p));
    s.scenario(&p, "top", || top(&p));
    s.scenario(&p, "an OOM kill", || oom(&p));
    s.scenario(
        &p,
        "exit codes 127 and 126 from the runtime's error",
        || exit_codes(&p),
    );
    let left = p.shutdown();
    s.finish(left);
}

fn run_rm(p: &Podman) {
    let out = p.run(
        &["--rm"],
        &["sh", "-c", "echo hello; ulimit -n; cat /proc/self/cgroup"],
    );
    out.ok();
    assert!(out.stdout.starts_with("hello\n1024\n"), "{out:?}");
    assert!(
        out.stdout.contains(&format!(":{}/libpod-", p.s.cgroup)),
        "the container runs under {}: {out:?}",
        p.s.cgroup
    );
    let out = p.run(&["--rm"], &["sh", "-c", "exit 42"]);
    assert_eq!(
        out.code, 42,
        "podman exits with the container's code: {out:?}"
    );
    let out = p.podman(&["ps", "-a", "-q"]);
    assert!(out.stdout.trim().is_empty(), "--rm removed them: {out:?}");
}

pub fn exec<C: DockerCli>(p: &C) {
    p.run(&["-d", "--name", "exec"], &["sleep", "1000"]).ok();
    let st = p
        .runtime_state("exec")
        .expect("the runtime has the container");
    assert_eq!(st["status"], "running", "{st}");
    let out = p.cli(&[
        "exec",
        "exec",
        "sh",
        "-c",
        "tty; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo err >&2",
    ]);
    out.ok();
    assert_eq!(out.stdout, "not a tty\nsleep 1000 \n", "{out:?}");
    assert_eq!(out.stderr, "err\n", "{out:?}");
    let out = p.cli(&["exec", "exec", "sh", "-c", "exit 7"]);
    assert_eq!(out.code, 7, "{out:?}");
    let out = p.cli(&["exec", "exec", "nosuch"]);
    assert_eq!(out.code, 127, "a missing command: {out:?}");
}

pub fn exec_tty<C: DockerCli>(p: &C) {
    p.run(&["-d", "--name", "tty"], &["sleep", "1000"]).ok();
    let (seen, code) = run_on_pty(p.cmd(&[
        "exec",
        "-it",
        "tty",
        "sh",
        "-c",
        // conmon sets the size podman gives it once the process runs: a
        // process that asks at once may find none yet (so with runc too).
        "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-terminal; \
         for i in $(seq 50); do s=$(stty size 2>/dev/null) && [ \"$s\" != '0 0' ] && break; sleep 0.1; done; \
         echo \"size $s\"",
    ]));
    assert_eq!(code, 0, "{seen:?}");
    assert!(seen.contains("/dev/pts/0"), "{seen:?}");
    assert!(seen.contains("stdio-is-a-terminal"), "{seen:?}");
    assert!(seen.contains("size 24 80"), "the terminal's size: {seen:?}");
}

pub fn stop<C: DockerCli>(p: &C) {
    p.run(
        &["-d", "--name", "term"],
        &[
            "sh",
            "-c",
            "trap 'exit 3' TERM; while :; do sleep 0.05; done",
        ],
    )
    .ok();
    let t = Instant::now();
    p.cli(&["stop", "-t", "10", "term"]).ok();
    assert!(t.elapsed() < Duration::from_secs(8), "TERM was enough");
    assert_eq!(p.inspect("term", "{{.State.ExitCode}}"), "3");

    p.run(
        &["-d", "--name", "ignore"],
        &["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"],
    )
    .ok();
    let t = Instant::now();
    let out = p.cli(&["stop", "-t", "2", "ignore"]);
    out.ok();
    assert!(t.elapsed() >= Duration::from_secs(2), "{out:?}");
    assert!(out.stderr.contains("SIGKILL"), "{out:?}");
    assert_eq!(p.inspect("ignore", "{{.State.ExitCode}}"), "137");
    assert_eq!(p.inspect("ignore", "{{.State.Status}}"), "exited");
}

fn pause(p: &Podman) {
    p.run(
        &["-d", "--name", "pause"],
        &[
            "sh",
            "-c",
            "while :; do date +%s%N > /tmp/tick; sleep 0.02; done",
        ],
    )
    .ok();
    p.podman(&["pause", "pause"]).ok();
    assert_eq!(p.inspect("pause", "{{.State.Status}}"), "paused");
    assert_eq!(p.runtime_state("pause").unwrap()["status"], "paused");
    p.podman(&["unpause", "pause"]).ok();
    assert_eq!(p.inspect("pause", "{{.State.Status}}"), "running");
    let tick = || {
        let out = p.podman(&["exec", "pause", "cat", "/tmp/tick"]);
        out.ok();
        out.stdout
    };
    let first = tick();
    wait_for("the loop to tick again after unpause", || tick() != first);
}

fn rm_force(p: &Podman) {
    p.run(&["-d", "--name", "rm"], &["sleep", "1000"]).ok();
    let cg = p.cgroup("rm");
    let pid = p.inspect("rm", "{{.State.Pid}}");
    let out = p.podman(&["rm", "rm"]);
    assert_ne!(out.code, 0, "a running container is not removed: {out:?}");
    p.podman(&["rm", "-f", "-t", "0", "rm"]).ok();
    assert!(p.podman(&["ps", "-a", "-q"]).stdout.trim().is_empty());
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    let root = p.s.path("runtime-root");
    let left: Vec<String> = std::fs::read_dir(&root)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let st =
                        std::fs::read_to_string(e.path().join("state.json")).unwrap_or_default();
                    format!("{:?}: {}", e.file_name(), &st[..st.len().min(300)])
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "the runtime's state went: {left:#?}");
    for h in crate::common::cgroup_hierarchies() {
        let d = h.join(cg.trim_start_matches('/'));
        assert!(!d.exists(), "{} is removed", d.display());
    }
}

fn update(p: &Podman) {
    p.run(&["-d", "--name", "update"], &["sleep", "1000"]).ok();
    p.podman(&[
        "update",
        "--memory",
        "64m",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        "update",
    ])
    .ok();
    let cg = p.cgroup("update");
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
    } else {
        assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
    }
}

fn top(p: &Podman) {
    p.run(
        &["-d", "--name", "top"],
        &["sh", "-c", "sleep 1000 & sleep 2000"],
    )
    .ok();
    let out = p.podman(&["top", "top", "pid", "args"]);
    out.ok();
    assert!(
        out.stdout.contains("sleep 1000") && out.stdout.contains("sleep 2000"),
        "{out:?}"
    );
}

/// An allocation over the limit is killed: the container's status is 137.
/// podman's State.OOMKilled stays false here with runc as with berth
/// (conmon 2.1.6 sees the OOM: it leaves its "oom" file in its working
/// directory), so the kernel's count in the container's memory cgroup is
/// checked instead.
fn oom(p: &Podman) {
    let out = p.run(
        &["--rm", "--memory", "16m", "--memory-swap", "16m"],
        &[
            "sh",
            "-c",
            "x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo survived",
        ],
    );
    assert_eq!(out.code, 137, "{out:?}");
    assert!(!out.stdout.contains("survived"));
    // A child volunteers as the victim, so the container lives on to be
    // looked at.
    p.run(
        &["-d", "--name", "oom", "--memory", "16m", "--memory-swap", "16m"],
        &[
            "sh",
            "-c",
            "sh -c 'echo 1000 > /proc/self/oom_score_adj; x=$(head -c 40000000 /dev/zero | tr \"\\0\" a)'; sleep 1000",
        ],
    )
    .ok();
    let cg = p.cgroup("oom");
    let (file, key) = if cgroup_v2() {
        (cgroup_file("", &cg, "memory.events"), "oom_kill ")
    } else {
        (
            cgroup_file("memory", &cg, "memory.oom_control"),
            "oom_kill ",
        )
    };
    wait_for(
        "the kernel to count an OOM kill in the container's cgroup",
        || {
            std::fs::read_to_string(&file)
                .unwrap_or_default()
                .lines()
                .any(|l| l.strip_prefix(key).is_some_and(|n| n != "0"))
        },
    );
    assert_eq!(p.inspect("oom", "{{.State.Status}}"), "running");
}

/// podman reads the runtime's error: "not found" is 127, "permission
/// denied" 126, and the runtime's words reach the user.
pub fn exit_codes<C: DockerCli>(p: &C) {
    let out = p.run(&["--rm"], &["nosuch"]);
    assert_eq!(out.code, 127, "{out:?}");
    assert!(out.stderr.contains("executable file not found"), "{out:?}");
    let out = p.run(&["--rm"], &["/etc/passwd"]);
    assert_eq!(out.code, 126, "{out:?}");
    assert!(out.stderr.contains("permission denied"), "{out:?}");
    assert!(p.cli(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}
