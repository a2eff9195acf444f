//! What a client run may leave on the host, and its removal: a private
//! scratch directory per client, a cgroup parent of its own in every
//! hierarchy, the processes, mounts and cgroups found under them when the
//! client is done, and the few directories of /run a client insists on.

use crate::common::cgroup_hierarchies;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Directories some clients make at fixed places whatever they are told
/// (containerd's shims put their sockets in /run/containerd/s, and ctr its
/// fifos in /run/containerd/fifo, dockerd looks for plugins in
/// /run/docker/plugins, the CNI library caches results in /var/lib/cni):
/// removed after the suite, when empty, if they were not there before it.
const SHARED_DIRS: &[&str] = &[
    "/run/containerd/s",
    "/run/containerd/fifo",
    "/run/containerd",
    "/var/lib/cni/results",
    "/var/lib/cni",
    "/run/docker/plugins",
    "/run/docker",
];

struct Before {
    shared: Vec<&'static str>,
    cgroup_root: BTreeSet<String>,
}

/// What the host had before the first client started.
fn before() -> &'static Before {
    static BEFORE: OnceLock<Before> = OnceLock::new();
    BEFORE.get_or_init(|| Before {
        shared: SHARED_DIRS
            .iter()
            .copied()
            .filter(|d| !Path::new(d).exists())
            .collect(),
        cgroup_root: cgroup_root_entries(),
    })
}

fn cgroup_root_entries() -> BTreeSet<String> {
    std::fs::read_dir("/sys/fs/cgroup")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A client's own corner of the host: a scratch directory (its roots,
/// sockets, logs, images) and a cgroup parent, both named after the client
/// and this process.
pub struct Scratch {
    pub client: &'static str,
    pub dir: PathBuf,
    /// The cgroup parent of every container of this client, absolute.
    pub cgroup: String,
}

impl Scratch {
    pub fn new(client: &'static str) -> Scratch {
        before();
        let tag = format!("bcl-{client}-{}", std::process::id());
        // Short, under /tmp: unix socket paths are limited to 108 bytes,
        // and clients put sockets several levels below their roots.
        let dir = PathBuf::from("/tmp").join(&tag);
        let s = Scratch {
            client,
            dir,
            cgroup: format!("/{tag}"),
        };
        // A run killed before its cleanup left this: sweep it first.
        s.sweep();
        let _ = std::fs::remove_dir_all(&s.dir);
        std::fs::create_dir_all(&s.dir).unwrap();
        s
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn str(&self, rel: &str) -> String {
        self.path(rel).to_str().unwrap().to_string()
    }

    /// Removes every process, mount and cgroup of this client, and says
    /// what it found. Called once the client's daemon has stopped (or
    /// failed): after a clean run it finds nothing.
    pub fn sweep(&self) -> Vec<String> {
        let mut found = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let procs = self.processes();
            if procs.is_empty() {
                break;
            }
            for (pid, what) in &procs {
                if found.len() < 50 {
                    found.push(format!("process {pid}: {what}"));
                }
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
            if Instant::now() > deadline {
                found.push("processes survived SIGKILL for 20 s".into());
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        found.extend(self.unmount());
        found.extend(self.remove_cgroups());
        found.extend(cgroup_root_leftovers());
        found
    }

    /// Whether a process of this client still runs.
    pub fn has_processes(&self) -> bool {
        !self.processes().is_empty()
    }

    /// Processes whose command line names the scratch directory (the
    /// daemon, shims, conmon) and processes in the client's cgroups.
    fn processes(&self) -> Vec<(i32, String)> {
        let needle = format!("{}/", self.dir.display());
        let needle = needle.as_bytes();
        let me = std::process::id() as i32;
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
                continue;
            };
            if pid == me {
                continue;
            }
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if cmd.windows(needle.len()).any(|w| w == needle) {
                let shown = String::from_utf8_lossy(&cmd).replace('\0', " ");
                out.push((pid, shown.chars().take(200).collect()));
            }
        }
        for dir in self.cgroup_dirs() {
            thaw(&dir);
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
                if pid != me && !out.iter().any(|(p, _)| *p == pid) {
                    out.push((pid, format!("in cgroup {}", dir.display())));
                }
            }
        }
        out
    }

    /// Every cgroup directory under the client's parent, deepest first.
    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let rel = self.cgroup.trim_start_matches('/');
        let mut all = Vec::new();
        for h in cgroup_hierarchies() {
            walk_dirs(&h.join(rel), &mut all);
        }
        all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        all
    }

    fn remove_cgroups(&self) -> Vec<String> {
        let mut left = Vec::new();
        for dir in self.cgroup_dirs() {
            let mut ok = false;
            for _ in 0..50 {
                if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    ok = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if !ok {
                left.push(format!("cgroup {} cannot be removed", dir.display()));
            }
        }
        left
    }

    /// Unmounts everything mounted under the scratch directory, deepest
    /// first; says what was there.
    fn unmount(&self) -> Vec<String> {
        let prefix = format!("{}/", self.dir.display());
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mut points: Vec<String> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(unescape_mountinfo)
            .filter(|p| p.starts_with(&prefix))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        points.dedup();
        let mut found = Vec::new();
        for p in points {
            let c = std::ffi::CString::new(p.clone()).unwrap();
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            found.push(format!("mount {p}"));
        }
        found
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let found = self.sweep();
        if !found.is_empty() {
            eprintln!("{}: removed after the run: {found:#?}", self.client);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        for d in &before().shared {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn walk_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    out.push(dir.to_path_buf());
    for e in rd.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk_dirs(&e.path(), out);
        }
    }
}

/// A frozen process does not die of SIGKILL until it is thawed.
fn thaw(dir: &Path) {
    let v1 = dir.join("freezer.state");
    if v1.exists() {
        let _ = std::fs::write(v1, "THAWED");
    }
    let v2 = dir.join("cgroup.freeze");
    if v2.exists() {
        let _ = std::fs::write(v2, "0");
    }
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Directories that appeared directly under /sys/fs/cgroup while clients
/// ran and are no mounted hierarchy (empty plain directories named after
/// controllers this host has not mounted, as something once left here):
/// removed when empty, and named. Clients run in parallel: a test filter
/// runs one alone to know which made them. Where /sys/fs/cgroup is itself
/// the hierarchy (pure cgroup v2), what appears there is a cgroup, such as
/// another client's parent, each client's sweep its own.
fn cgroup_root_leftovers() -> Vec<String> {
    let mounted: BTreeSet<PathBuf> = cgroup_hierarchies().into_iter().collect();
    if mounted.contains(Path::new("/sys/fs/cgroup")) {
        return Vec::new();
    }
    let mut found = Vec::new();
    for name in cgroup_root_entries().difference(&before().cgroup_root) {
        let p = Path::new("/sys/fs/cgroup").join(name);
        if p.is_dir() && !mounted.contains(&p) {
            let removed = std::fs::remove_dir(&p).is_ok();
            found.push(format!(
                "{} appeared under /sys/fs/cgroup and is no mounted hierarchy ({})",
                p.display(),
                if removed {
                    "removed"
                } else {
                    "not empty: left"
                }
            ));
        }
    }
    found
}
