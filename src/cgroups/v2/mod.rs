//! cgroup v2: one directory in the unified tree, with the controllers it
//! needs enabled in every ancestor, resource files (resources.rs), device
//! rules as an eBPF program (devices.rs), cgroup.freeze and cgroup.kill.

mod devices;
mod resources;

pub(crate) use resources::writes;
mod stats;

use super::{
    CgroupError, DeviceRule, View, make_path, read_pids, remove_berth_parents, remove_dir, write,
};
use crate::error::SysContext;
use oci_spec::runtime::LinuxResources;
use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

/// Delegates to `dir`'s children every controller `dir` has. A cgroup with
/// processes of its own cannot (no internal processes): then the
/// controllers it already delegates are all the container gets.
fn enable_controllers(dir: &std::path::Path) {
    let available = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let enabled = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let want: Vec<String> = available
        .split_whitespace()
        .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if !want.is_empty() {
        let _ = std::fs::write(dir.join("cgroup.subtree_control"), want.join(" "));
    }
}

pub struct Manager {
    root: PathBuf,
    path: String,
}

impl Manager {
    pub fn new(root: PathBuf, path: &str) -> Manager {
        Manager {
            root,
            path: path.to_string(),
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.root.join(self.path.trim_start_matches('/'))
    }

    /// Makes the directory, enabling in each ancestor every controller the
    /// ancestor has, so the container's cgroup gets their files.
    pub fn create(&self) -> Result<(), CgroupError> {
        make_path(&self.root, &self.path, enable_controllers, |_| Ok(()))
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        write(&self.dir().join("cgroup.procs"), &pid.to_string())
    }

    /// Device rules a v2 filter can express.
    pub fn check_rules(&self, rules: &[DeviceRule]) -> Result<(), CgroupError> {
        match rules
            .iter()
            .find(|r| r.access.chars().any(|c| !"rwm".contains(c)))
        {
            Some(r) => Err(r.bad_access("is not a combination of r, w and m (the only accesses a cgroup v2 device filter has)")),
            None => Ok(()),
        }
    }

    /// Whether the hierarchy's root offers `controller` (files such as
    /// cgroup.procs belong to no controller: always there).
    fn host_has(&self, controller: &str) -> bool {
        controller == "cgroup"
            || std::fs::read_to_string(self.root.join("cgroup.controllers"))
                .is_ok_and(|have| have.split_whitespace().any(|c| c == controller))
    }

    pub fn check(&self, r: &LinuxResources, rules: &[DeviceRule]) -> Result<(), CgroupError> {
        self.check_rules(rules)?;
        let dir = self.dir();
        for w in resources::writes(r, &dir)? {
            if !w.optional && !dir.join(&w.file).exists() {
                let controller = w.file.split('.').next().unwrap_or("");
                if !self.host_has(controller) {
                    return Err(w.no_controller(format!(
                        "this host's cgroup v2 has no {controller} controller (for {})",
                        w.file
                    )));
                }
                return Err(w.missing(&format!(
                    "the container's cgroup has no {} (is the {controller} controller enabled?)",
                    w.file
                )));
            }
        }
        Ok(())
    }

    pub fn apply(&self, r: &LinuxResources, rules: &[DeviceRule]) -> Result<(), CgroupError> {
        let dir = self.dir();
        if !rules.is_empty() {
            let fd = rustix::fs::open(
                &dir,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .sys("open", dir.display())?;
            devices::attach(fd.as_fd(), rules)?;
        }
        for w in resources::writes(r, &dir)? {
            if !w.optional || dir.join(&w.file).exists() {
                w.apply(&dir)?;
            }
        }
        Ok(())
    }

    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        read_pids(&self.dir().join("cgroup.procs"))
    }

    /// SIGKILL to every process at once, where the kernel has cgroup.kill.
    pub fn kill_all(&self) -> bool {
        std::fs::write(self.dir().join("cgroup.kill"), "1").is_ok()
    }

    pub fn destroy(&self) -> Result<(), CgroupError> {
        remove_dir(&self.dir(), super::deadline(super::REMOVE_BOUND))?;
        remove_berth_parents(&self.root, &self.path);
        Ok(())
    }

    pub fn views(&self) -> Vec<View> {
        vec![View {
            name: String::new(),
            host_path: self.dir(),
            fstype: "cgroup2",
            options: Vec::new(),
        }]
    }

    pub fn clone_into(&self) -> Option<OwnedFd> {
        rustix::fs::open(
            self.dir(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
    }

    /// Writes cgroup.freeze and blocks (poll on cgroup.events) until the
    /// kernel reports the cgroup frozen or thawed, up to the bound
    /// (BERTH_FREEZE_TIMEOUT, 10 s; a process in uninterruptible sleep
    /// delays a freeze for as long as it sleeps).
    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        let dir = self.dir();
        let events = dir.join("cgroup.events");
        let fd = rustix::fs::open(&events, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .sys("open", events.display())?;
        write(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
        let want = if frozen { 1 } else { 0 };
        let start = std::time::Instant::now();
        let until = super::deadline(super::FREEZE_BOUND);
        loop {
            let now = super::stats::read_kv(&events).get("frozen").copied();
            if now == Some(want) {
                return Ok(());
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                // A freeze half done is undone: its processes run on.
                if frozen {
                    let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
                }
                return Err(CgroupError::FreezeTimeout {
                    dir: dir.display().to_string(),
                    what: if frozen { "freeze" } else { "thaw" },
                    waited: start.elapsed(),
                    file: "cgroup.events",
                    state: format!("frozen {}", now.unwrap_or(1 - want)),
                    stuck: super::stuck(&dir),
                });
            }
            let mut p = [PollFd::new(&fd, PollFlags::PRI)];
            crate::syscall::poll_until(&mut p, Some(until)).sys("poll", events.display())?;
            let _ = rustix::fs::seek(&fd, rustix::fs::SeekFrom::Start(0));
            let mut buf = [0u8; 256];
            let _ = rustix::io::read(&fd, &mut buf);
        }
    }

    /// The cgroup, file and value when it is frozen (itself, or an
    /// ancestor: cgroup.events says which it is in effect).
    pub fn frozen_state(&self) -> Option<(PathBuf, &'static str, String)> {
        let dir = self.dir();
        let frozen = super::stats::read_kv(&dir.join("cgroup.events"))
            .get("frozen")
            .copied()?;
        (frozen == 1).then(|| (dir, "cgroup.events", "frozen 1".to_string()))
    }

    pub fn stats(&self) -> Result<crate::cgroups::stats::Stats, CgroupError> {
        Ok(stats::collect(&self.dir()))
    }

    pub fn oom_watch(&self) -> Result<crate::cgroups::OomWatch, CgroupError> {
        Ok(crate::cgroups::OomWatch::v2(&self.dir())?)
    }
}
