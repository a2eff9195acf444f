//! The container's cgroup: one `CgroupManager` interface with a v1 manager
//! (every v1 hierarchy of the host, plus the unified tree of a hybrid host)
//! and a v2 manager, chosen by what the host mounts at /sys/fs/cgroup.
//! This slice places the process and applies device rules; the other
//! resources come as one file per controller beside `devices.rs`.

mod devices;
mod oom;
mod path;
pub mod stats;
pub mod systemd;
mod v1;
mod v2;
mod write;

pub use oom::{OomKills, OomWatch};

pub use devices::{DeviceRule, rules_from_spec};
pub use path::{beside_own, cgroup_path};

use crate::error::SysError;
use oci_spec::runtime::LinuxResources;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// One hierarchy of the container's cgroup as a `cgroup` mount inside the
/// container shows it (the container layer hands it to mounts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The directory under the mount: "cpu", "systemd", "unified"; empty
    /// when cgroup2 is the only hierarchy and is mounted at the destination.
    pub name: String,
    /// The container's own cgroup directory in that hierarchy, on the host.
    pub host_path: std::path::PathBuf,
    /// "cgroup" or "cgroup2", and the options a fresh mount of it takes
    /// inside a cgroup namespace (e.g. "cpu", or "none,name=systemd").
    pub fstype: &'static str,
    pub options: Vec<(String, Option<String>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup: {0}")]
    Sys(#[from] SysError),
    #[error("{path}: {msg}")]
    Unsupported { path: String, msg: String },
    /// A resource whose controller this host lacks altogether (not mounted
    /// on v1, not in the root's cgroup.controllers on v2): no cgroup
    /// anywhere could apply it.
    #[error("{path}: {why}")]
    NoController { path: String, why: String },
    /// The kernel refused a value: the config field it came from, and why.
    #[error("{path}: {source}")]
    Write { path: String, source: SysError },
    /// systemd refused, failed or did not answer: the unit, and what berth
    /// asked of it.
    #[error("systemd unit {unit}: {what}: {source}")]
    Systemd {
        unit: String,
        what: String,
        source: systemd::DbusError,
    },
    /// rmdir kept answering EBUSY until the bound.
    #[error(
        "cgroup {dir} will not go away: still busy after {waited:.1?} ({holds}); delete --force again once it is empty"
    )]
    Busy {
        dir: String,
        waited: Duration,
        holds: String,
    },
    /// A freeze or thaw that did not complete by the bound.
    #[error(
        "cgroup {dir}: {what} did not complete within {waited:.1?} ({file} says {state}){stuck}"
    )]
    FreezeTimeout {
        dir: String,
        what: &'static str,
        waited: Duration,
        file: &'static str,
        state: String,
        /// The processes in uninterruptible sleep, which a freeze waits for.
        stuck: String,
    },
    /// The container's cgroup exists already, frozen.
    #[error(
        "cgroup {dir} already exists and is frozen ({file} says {state}): the container's process could never run; thaw or remove it"
    )]
    Frozen {
        dir: String,
        file: &'static str,
        state: String,
    },
}

pub trait CgroupManager {
    /// Before `create`: a cgroup that exists already frozen is an error (a
    /// process placed in it would never run); else how many processes it
    /// already holds (not the container's: create warns of them).
    fn existing(&self) -> Result<usize, CgroupError>;
    /// Makes the container's cgroup directories (and missing parents).
    fn create(&self) -> Result<(), CgroupError>;
    /// Moves a process (and so everything it forks) into the cgroup.
    fn add_process(&self, pid: i32) -> Result<(), CgroupError>;
    /// Checks, before the container exists, that this host can apply every
    /// resource the config sets (controller there, file there).
    fn check(&self, r: &LinuxResources, devices: &[DeviceRule]) -> Result<(), CgroupError>;
    /// Applies linux.resources: device rules in their order, then the limits.
    fn apply(&self, r: &LinuxResources, devices: &[DeviceRule]) -> Result<(), CgroupError>;
    /// The pids of every process in the cgroup.
    fn pids(&self) -> Result<Vec<i32>, CgroupError>;
    /// Removes the container's cgroup directories.
    fn destroy(&self) -> Result<(), CgroupError>;
    /// What a `cgroup` mount shows inside the container.
    fn views(&self) -> Vec<View>;
    /// An fd on the cgroup2 directory, for clone3(CLONE_INTO_CGROUP).
    fn clone_into(&self) -> Option<OwnedFd>;
    /// Stops (true) or resumes (false) every process, and waits until done.
    fn freeze(&self, frozen: bool) -> Result<(), CgroupError>;
    fn stats(&self) -> Result<stats::Stats, CgroupError>;
    fn oom_watch(&self) -> Result<OomWatch, CgroupError>;
    /// The OOM kills recorded in the cgroup and its memory limit; None
    /// where there is no memory controller.
    fn oom_kills(&self) -> Option<OomKills>;

    /// Signals every process in the cgroup: cgroup.kill for SIGKILL where
    /// the kernel has it, else frozen while signalled, so that nothing
    /// forks past the list of pids.
    fn signal_all(&self, sig: rustix::process::Signal) -> Result<(), CgroupError>;
}

/// The writes both managers would make for `r`, without a host: for the
/// fuzz target, which must see only Ok or an error.
pub fn check_writes(r: &LinuxResources) -> Result<(), CgroupError> {
    v1::Manager::writes(r)?;
    v2::writes(r, std::path::Path::new("/nonexistent"))?;
    Ok(())
}

/// Whether the cgroup at `path` is frozen, read straight from the freezer
/// file (state and list ask this of every container, so no discovery).
pub fn is_frozen(path: &str) -> bool {
    let rel = path.trim_start_matches('/');
    if let Ok(s) = std::fs::read_to_string(
        std::path::Path::new("/sys/fs/cgroup/freezer")
            .join(rel)
            .join("freezer.state"),
    ) {
        return s.trim() == "FROZEN";
    }
    std::fs::read_to_string(
        std::path::Path::new("/sys/fs/cgroup")
            .join(rel)
            .join("cgroup.freeze"),
    )
    .is_ok_and(|s| s.trim() == "1")
}

/// The v1 freezer cgroup holding process `pid` (its /proc/PID/cgroup line)
/// and that cgroup's state, when it is not THAWED: what keeps a process
/// from dying of its SIGKILL. None on v2, where a frozen cgroup's
/// processes still die.
pub fn freezer_holding(pid: i32) -> Option<(String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == "freezer")
            .then(|| path.to_string())
    })?;
    let (_, file, state) = v1::Manager::discover(&path).ok()?.frozen_state()?;
    Some((path, format!("{file} {state}")))
}

pub enum Manager {
    V1(v1::Manager),
    V2(v2::Manager),
    /// A scope unit systemd owns, whose cgroup berth writes through v2.
    Systemd(systemd::Manager),
}

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Whether this host's only hierarchy is cgroup v2 (/sys/fs/cgroup is a
/// cgroup2 mount), as runc's IsCgroup2UnifiedMode asks it; a hybrid host,
/// whose cgroup2 sits at /sys/fs/cgroup/unified, is not.
pub fn unified() -> Result<bool, CgroupError> {
    let fs = rustix::fs::statfs("/sys/fs/cgroup")
        .map_err(|e| SysError::new("statfs", "/sys/fs/cgroup", e))?;
    Ok(fs.f_type as i64 == CGROUP2_SUPER_MAGIC)
}

/// The manager for this host, for the cgroup at `path` (e.g. /berth/ID).
pub fn manager(path: &str) -> Result<Manager, CgroupError> {
    if unified()? {
        Ok(Manager::V2(v2::Manager::new("/sys/fs/cgroup".into(), path)))
    } else {
        Ok(Manager::V1(v1::Manager::discover(path)?))
    }
}

/// On a host whose only hierarchy is cgroup v2, the caller's own cgroup
/// there (its /proc/self/cgroup line "0::PATH"); None on a v1 or hybrid
/// host, where nothing is delegated to a user.
pub fn own_unified() -> Option<String> {
    if !unified().ok()? {
        return None;
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    own.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

/// The manager for a container's cgroup as create placed it: through
/// systemd when it has a unit, else the files at `path`.
pub fn open(path: &str, unit: Option<&systemd::Unit>) -> Result<Manager, CgroupError> {
    match unit {
        None => manager(path),
        Some(u) => Ok(Manager::Systemd(systemd::Manager::existing(u.clone()))),
    }
}

/// The systemd driver, which berth has on cgroup v2 only.
pub fn systemd_manager(
    unit: systemd::Unit,
    extra: Vec<systemd::Property>,
) -> Result<Manager, CgroupError> {
    if !unified()? {
        return Err(CgroupError::Unsupported {
            path: "--systemd-cgroup".into(),
            msg: "berth's systemd driver needs a host with cgroup v2 only (this one mounts cgroup v1 hierarchies at /sys/fs/cgroup); run without --systemd-cgroup".into(),
        });
    }
    Ok(Manager::Systemd(systemd::Manager::new(unit, extra)))
}

impl Manager {
    fn path(&self) -> &str {
        match self {
            Manager::V1(m) => m.path(),
            Manager::V2(m) => m.path(),
            Manager::Systemd(m) => m.fs().path(),
        }
    }
}

impl CgroupManager for Manager {
    fn existing(&self) -> Result<usize, CgroupError> {
        let frozen = match self {
            Manager::V1(m) => m.frozen_state(),
            Manager::V2(m) => m.frozen_state(),
            Manager::Systemd(m) => m.fs().frozen_state(),
        };
        if let Some((dir, file, state)) = frozen {
            return Err(CgroupError::Frozen {
                dir: dir.display().to_string(),
                file,
                state,
            });
        }
        // A scope's cgroup with processes is another unit's, which systemd
        // refuses to start again (naming it): not processes to warn of.
        if let Manager::Systemd(_) = self {
            return Ok(0);
        }
        // A cgroup not there yet has no processes.
        Ok(self.pids().unwrap_or_default().len())
    }
    fn create(&self) -> Result<(), CgroupError> {
        match self {
            Manager::V1(m) => m.create(),
            Manager::V2(m) => m.create(),
            Manager::Systemd(_) => Ok(()),
        }
    }
    fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        match self {
            Manager::V1(m) => m.add_process(pid),
            Manager::V2(m) => m.add_process(pid),
            Manager::Systemd(m) => m.add_process(pid),
        }
    }
    fn check(&self, r: &LinuxResources, devices: &[DeviceRule]) -> Result<(), CgroupError> {
        match self {
            Manager::V1(m) => m.check(r, devices),
            Manager::V2(m) => m.check(r, devices),
            Manager::Systemd(m) => m.check(r, devices),
        }
    }
    fn apply(&self, r: &LinuxResources, devices: &[DeviceRule]) -> Result<(), CgroupError> {
        match self {
            Manager::V1(m) => m.apply(r, devices),
            Manager::V2(m) => m.apply(r, devices),
            Manager::Systemd(m) => m.apply(r, devices),
        }
    }
    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        match self {
            Manager::V1(m) => m.pids(),
            Manager::V2(m) => m.pids(),
            Manager::Systemd(m) => m.fs().pids(),
        }
    }
    fn destroy(&self) -> Result<(), CgroupError> {
        match self {
            Manager::V1(m) => m.destroy(),
            Manager::V2(m) => m.destroy(),
            Manager::Systemd(m) => m.destroy(),
        }
    }
    fn views(&self) -> Vec<View> {
        match self {
            Manager::V1(m) => m.views(),
            Manager::V2(m) => m.views(),
            Manager::Systemd(m) => m.fs().views(),
        }
    }
    fn clone_into(&self) -> Option<OwnedFd> {
        match self {
            Manager::V1(m) => m.clone_into(),
            Manager::V2(m) => m.clone_into(),
            Manager::Systemd(_) => None,
        }
    }
    fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        match self {
            Manager::V1(m) => m.freeze(frozen),
            Manager::V2(m) => m.freeze(frozen),
            Manager::Systemd(m) => m.fs().freeze(frozen),
        }
    }
    fn stats(&self) -> Result<stats::Stats, CgroupError> {
        match self {
            Manager::V1(m) => m.stats(),
            Manager::V2(m) => m.stats(),
            Manager::Systemd(m) => m.fs().stats(),
        }
    }
    fn oom_watch(&self) -> Result<OomWatch, CgroupError> {
        match self {
            Manager::V1(m) => m.oom_watch(),
            Manager::V2(m) => m.oom_watch(),
            Manager::Systemd(m) => m.fs().oom_watch(),
        }
    }
    fn oom_kills(&self) -> Option<OomKills> {
        match self {
            Manager::V1(m) => m.oom_kills(),
            Manager::V2(m) => Some(OomKills::read(&m.dir(), false)),
            Manager::Systemd(m) => Some(OomKills::read(&m.fs().dir(), false)),
        }
    }
    fn signal_all(&self, sig: rustix::process::Signal) -> Result<(), CgroupError> {
        let v2 = match self {
            Manager::V2(m) => Some(m),
            Manager::Systemd(m) => Some(m.fs()),
            Manager::V1(_) => None,
        };
        if let Some(m) = v2
            && sig == rustix::process::Signal::KILL
            && m.kill_all()
        {
            return Ok(());
        }
        // A paused container stays paused (its signals wait for resume).
        let froze = !is_frozen(self.path()) && self.freeze(true).is_ok();
        for pid in self.pids()? {
            if let Some(p) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(p, sig);
            }
        }
        if froze {
            self.freeze(false)?;
        }
        Ok(())
    }
}

/// Shared by both managers: the pids listed in a cgroup.procs file.
fn read_pids(file: &std::path::Path) -> Result<Vec<i32>, CgroupError> {
    let text =
        std::fs::read_to_string(file).map_err(|e| SysError::new("read", file.display(), e))?;
    Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// Writes `value` to a cgroup file, naming the file on failure.
fn write(file: &std::path::Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(file, value)
        .map_err(|e| SysError::new("write", format!("{value:?} to {}", file.display()), e).into())
}

/// Makes mountpoint/path level by level: `enter` sees each existing parent
/// before its child is made, `made` each directory made. A parent that a
/// concurrent delete removes (berth's own /berth) is made again.
fn make_path(
    mountpoint: &std::path::Path,
    path: &str,
    mut enter: impl FnMut(&std::path::Path),
    mut made: impl FnMut(&std::path::Path) -> Result<(), CgroupError>,
) -> Result<(), CgroupError> {
    for attempt in 0..5 {
        let mut dir = mountpoint.to_path_buf();
        let mut raced = false;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            enter(&dir);
            dir.push(part);
            match std::fs::create_dir(&dir) {
                Ok(()) => made(&dir)?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < 4 => {
                    raced = true;
                    break;
                }
                Err(e) => return Err(SysError::new("create", dir.display(), e).into()),
            }
        }
        if !raced {
            break;
        }
    }
    Ok(())
}

/// How long a wait of the cgroup piece may last: the environment variable
/// `var` in seconds (for tests, and hosts that need longer), else `default`.
pub fn bound(var: &str, default: Duration) -> Duration {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(default, Duration::from_secs_f64)
}

/// The bound on a cgroup directory that answers EBUSY to rmdir.
pub const REMOVE_BOUND: (&str, Duration) = ("BERTH_CGROUP_TIMEOUT", Duration::from_secs(5));
/// The bound on a freeze or thaw to complete.
pub const FREEZE_BOUND: (&str, Duration) = ("BERTH_FREEZE_TIMEOUT", Duration::from_secs(10));

/// When a wait of `b` that starts now must end.
fn deadline(b: (&str, Duration)) -> Instant {
    Instant::now() + bound(b.0, b.1)
}

/// Removes a cgroup directory by `until`. A cgroup whose last process has
/// exited but not yet been released by the kernel answers EBUSY for a
/// moment; one that still does at `until` is named with what it holds. A
/// missing one is already gone.
fn remove_dir(dir: &std::path::Path, until: Instant) -> Result<(), CgroupError> {
    // Sub-cgroups first (exec --cgroup, or the container's own).
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_dir(&e.path(), until)?;
            }
        }
    }
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < until => {
                std::thread::sleep(pause.min(until.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                return Err(CgroupError::Busy {
                    dir: dir.display().to_string(),
                    waited: start.elapsed(),
                    holds: holds(dir),
                });
            }
            Err(e) => return Err(SysError::new("remove", dir.display(), e).into()),
        }
    }
}

/// The processes of the cgroup at `dir` in uninterruptible sleep, and
/// where, for a freeze that does not complete: "; in uninterruptible
/// sleep: process 1234 (cat, state D, waiting in ...)", or nothing.
fn stuck(dir: &std::path::Path) -> String {
    let stuck: Vec<String> = read_pids(&dir.join("cgroup.procs"))
        .unwrap_or_default()
        .into_iter()
        .filter(|&p| crate::syscall::proc_stat(p).is_ok_and(|(_, s)| s == 'D'))
        .filter_map(crate::syscall::proc_waits)
        .collect();
    match stuck.is_empty() {
        true => String::new(),
        false => format!(
            "; in uninterruptible sleep: process {}",
            stuck.join("; process ")
        ),
    }
}

/// What a cgroup that will not go away still holds, as its cgroup.procs
/// lists it: each pid with its command name.
fn holds(dir: &std::path::Path) -> String {
    let pids = read_pids(&dir.join("cgroup.procs")).unwrap_or_default();
    if pids.is_empty() {
        return "no process is listed in it".into();
    }
    let named: Vec<String> = pids
        .iter()
        .map(|p| {
            let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            format!("{p} ({})", comm.trim())
        })
        .collect();
    format!("it holds process {}", named.join(", "))
}

/// Removes the directories berth's own default parent holds between the
/// container's cgroup and the hierarchy's root, when they are empty.
fn remove_berth_parents(mountpoint: &std::path::Path, path: &str) {
    let Some(rest) = path
        .strip_prefix(path::DEFAULT_PARENT)
        .filter(|r| r.starts_with('/'))
    else {
        return;
    };
    let mut p = std::path::PathBuf::from(path::DEFAULT_PARENT);
    let mut dirs = vec![p.clone()];
    let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        p.push(part);
        dirs.push(p.clone());
    }
    for d in dirs.iter().rev() {
        let full = mountpoint.join(d.strip_prefix("/").unwrap_or(d));
        if std::fs::remove_dir(&full).is_err() {
            break;
        }
    }
}
