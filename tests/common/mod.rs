//! The test harness: a busybox bundle of its own per test, berth run
//! against its own --root, and everything the test made removed when it
//! ends, whether it passed or failed. `make test` runs the tests under
//! scripts/subreaper, which reaps orphaned container processes as
//! containerd's shim would.

#![allow(dead_code)]

pub mod fuse;
pub mod notify;
pub mod tty;
pub mod user;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Whether this host runs cgroup v2 only (the guest of `make test-v2`).
pub fn cgroup_v2() -> bool {
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statfs(c"/sys/fs/cgroup".as_ptr(), &mut st) };
    r == 0 && st.f_type as i64 == 0x6367_7270
}

/// Keeps the host's cgroup namespace in a config: `berth spec` (as runc's)
/// adds a cgroup namespace on a v2 host, where the container would see its
/// own cgroup as "/"; tests that read their full cgroup path from inside
/// drop it.
pub fn host_cgroupns(config: &mut Value) {
    if let Some(ns) = config["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "cgroup");
    }
}

/// Adds a cgroup namespace to a config unless it has one already.
pub fn own_cgroupns(config: &mut Value) {
    host_cgroupns(config);
    if let Some(ns) = config["linux"]["namespaces"].as_array_mut() {
        ns.push(serde_json::json!({"type": "cgroup"}));
    }
}

/// Every mounted cgroup hierarchy (v1 controllers and the unified tree),
/// from /proc/self/mountinfo as berth finds them: a directory under
/// /sys/fs/cgroup is not necessarily a mounted hierarchy (some clients leave
/// empty ones named after controllers this host has not mounted).
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            (fstype == "cgroup" || fstype == "cgroup2")
                .then(|| PathBuf::from(left.split(' ').nth(4).unwrap()))
        })
        .collect()
}

/// A cgroup file of a container's cgroup on the host: v1 in the
/// controller's hierarchy, v2 in the unified tree.
pub fn cgroup_file(controller: &str, cgroup_path: &str, file: &str) -> PathBuf {
    let rel = cgroup_path.trim_start_matches('/');
    if cgroup_v2() {
        Path::new("/sys/fs/cgroup").join(rel).join(file)
    } else {
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(rel)
            .join(file)
    }
}

pub fn berth_bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth")
}

/// A bundle at `dir`: a busybox rootfs and `berth spec`'s config.json.
pub fn make_bundle(dir: &Path) {
    make_rootfs(&dir.join("rootfs"));
    let out = Command::new(berth_bin())
        .args(["spec", "--bundle"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "berth spec: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A rootfs with a static busybox and its applets.
pub fn make_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // Copied by cp, not by this process: a write fd of ours would be
    // inherited by any child another test thread forks meanwhile, and a
    // container exec'ing busybox then fails with ETXTBSY.
    let cp = Command::new("cp")
        .arg("/bin/busybox")
        .arg(bin.join("busybox"))
        .status()
        .unwrap();
    assert!(cp.success(), "busybox-static is installed");
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
    for d in ["proc", "sys", "dev", "tmp", "etc", "root"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "berth failed: stdout={:?} stderr={:?}",
            self.stdout, self.stderr
        );
        self
    }
}

pub struct Bundle {
    _tmp: tempfile::TempDir,
    pub path: PathBuf,
    pub root: PathBuf,
    ids: std::sync::Mutex<Vec<String>>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Bundle {
    /// runc's default config (berth spec) without a terminal, running `args`.
    pub fn new(args: &[&str]) -> Bundle {
        let tmp = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir()
            .unwrap();
        let path = tmp.path().join("bundle");
        let root = tmp.path().join("state");
        std::fs::create_dir_all(&path).unwrap();
        make_bundle(&path);
        let b = Bundle {
            _tmp: tmp,
            path,
            root,
            ids: std::sync::Mutex::new(Vec::new()),
        };
        b.config(|c| {
            c["process"]["terminal"] = false.into();
            c["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        });
        b
    }

    /// `sh -c script` in the container.
    pub fn sh(script: &str) -> Bundle {
        Bundle::new(&["sh", "-c", script])
    }

    pub fn config(&self, f: impl FnOnce(&mut Value)) {
        let file = self.path.join("config.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&file, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }

    pub fn read_config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.path.join("config.json")).unwrap()).unwrap()
    }

    /// A container id unique to this test run; deleted when the bundle goes.
    pub fn id(&self, name: &str) -> String {
        let id = format!(
            "{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.ids.lock().unwrap().push(id.clone());
        id
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(berth_bin());
        c.arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs berth with these arguments (after --root), killed after 60 s.
    pub fn berth(&self, args: &[&str]) -> Out {
        run_with_timeout(self.cmd(args), Duration::from_secs(60))
    }

    /// `berth run --bundle B ID`: the container's output and berth's status.
    pub fn run(&self, id: &str) -> Out {
        let b = self.path.to_str().unwrap().to_string();
        self.berth(&["run", "--bundle", &b, id])
    }

    /// `berth run --detach` of this bundle; the container's pid.
    pub fn run_detached(&self, id: &str) -> i64 {
        let b = self.path.to_str().unwrap().to_string();
        self.berth(&["run", "--detach", "--bundle", &b, id]).ok();
        self.state(id)["pid"].as_i64().unwrap()
    }

    pub fn create(&self, id: &str) -> Out {
        let b = self.path.to_str().unwrap().to_string();
        self.berth(&["create", "--bundle", &b, id])
    }

    pub fn state(&self, id: &str) -> Value {
        let out = self.berth(&["state", id]);
        out.ok();
        serde_json::from_str(&out.stdout).unwrap()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    /// The container's cgroup directories on this host (v1 hierarchies and
    /// the unified tree), whether or not they exist.
    pub fn cgroup_dirs(&self, cgroup_path: &str) -> Vec<PathBuf> {
        let rel = cgroup_path.trim_start_matches('/');
        if cgroup_v2() {
            return vec![Path::new("/sys/fs/cgroup").join(rel)];
        }
        cgroup_hierarchies()
            .into_iter()
            .map(|h| h.join(rel))
            .collect()
    }

    #[track_caller]
    pub fn assert_no_leftovers(&self, id: &str) {
        assert!(
            !self.root.join(id).exists(),
            "state directory of {id} left behind"
        );
        for d in self.cgroup_dirs(&format!("/berth/{id}")) {
            assert!(!d.exists(), "cgroup {} left behind", d.display());
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(self.path.to_str().unwrap()),
            "a mount of the bundle is left on the host"
        );
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        for id in self.ids.lock().unwrap().iter() {
            let _ = run_with_timeout(
                self.cmd(&["delete", "--force", id]),
                Duration::from_secs(30),
            );
        }
    }
}

/// Runs a command with its stdout and stderr in files, not pipes: a
/// container created by it may keep them open long after it exits.
pub fn run_with_timeout(mut cmd: Command, limit: Duration) -> Out {
    let out_f = tempfile::tempfile().unwrap();
    let err_f = tempfile::tempfile().unwrap();
    cmd.stdout(out_f.try_clone().unwrap())
        .stderr(err_f.try_clone().unwrap());
    let mut child = cmd.spawn().expect("spawn berth");
    let pid = child.id() as i32;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d2 = done.clone();
    let watchdog = std::thread::spawn(move || {
        let step = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        while !d2.load(Ordering::Relaxed) {
            if waited >= limit {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return;
            }
            std::thread::sleep(step);
            waited += step;
        }
    });
    let status = child.wait().unwrap();
    done.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    use std::io::{Read, Seek};
    let read = |mut f: std::fs::File| {
        let mut s = String::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Out {
        code,
        stdout: read(out_f),
        stderr: read(err_f),
    }
}
