//! The state directory --root/ID: created exclusively (so an id exists
//! once), locked with flock against two commands on one id at once, and
//! written by write + rename so a reader never sees half a file.
//!
//! Beside state.json, cleanup.json: what delete needs to clean up (the
//! pid, the cgroup, mounts, resctrl, poststop hooks), and nothing an exec
//! needs. state.json is rewritten at every phase and is large (the whole
//! process, seccomp); a torn write or a full disk can leave it unreadable
//! (a crash between write and rename on a filesystem that does not order
//! them, someone's editor). Deriving the cgroup from other files cannot work
//! (linux.cgroupsPath is any path, and the bundle may be gone), so the
//! record is a file of its own, written before the cgroup and the process
//! exist and again only when what it holds changes (the pid once known):
//! one damaged file never loses both.

use super::ContainerError;
use super::state::State;
use crate::error::{SysContext, SysError};
use rustix::fs::{FlockOperation, Mode, OFlags};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const STATE_FILE: &str = "state.json";
pub const CLEANUP_FILE: &str = "cleanup.json";
pub const EXEC_FIFO: &str = "exec.fifo";

pub struct StateDir {
    pub path: PathBuf,
    /// Holds the flock for as long as the command runs.
    pub fd: OwnedFd,
    /// cleanup.json as this command last wrote it, so that a save that
    /// changes only the phase does not write it again.
    record: std::cell::RefCell<Option<Vec<u8>>>,
}

/// Container ids: what runc accepts, never a path.
pub fn validate_id(id: &str) -> Result<(), ContainerError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'))
        && !id.contains("..");
    if ok {
        Ok(())
    } else {
        Err(ContainerError::InvalidId(id.to_string()))
    }
}

impl StateDir {
    /// Makes the directory of a new container; fails if the id exists.
    pub fn create(root: &Path, id: &str) -> Result<StateDir, ContainerError> {
        validate_id(id)?;
        let denied = |e: &std::io::Error| {
            matches!(
                e.raw_os_error(),
                Some(libc::EACCES | libc::EPERM | libc::EROFS)
            )
        };
        std::fs::create_dir_all(root).map_err(|e| match denied(&e) {
            true => super::rootless::unwritable_root(root, e),
            false => SysError::new("create", root.display(), e),
        })?;
        let path = root.join(id);
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ContainerError::Exists(id.to_string()));
            }
            Err(e) if denied(&e) => return Err(super::rootless::unwritable_root(root, e).into()),
            Err(e) => return Err(SysError::new("create", path.display(), e).into()),
        }
        // 0711: the container's user may open exec.fifo inside, nothing more.
        let _ =
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o711));
        let fd = lock(&path, id)?;
        Ok(StateDir::new(path, fd))
    }

    fn new(path: PathBuf, fd: OwnedFd) -> StateDir {
        StateDir {
            path,
            fd,
            record: std::cell::RefCell::new(None),
        }
    }

    /// Opens and locks an existing container's directory. A directory
    /// removed (or moved away to be removed, by a delete that was killed)
    /// while this waited for the lock is no longer at root/ID: the
    /// container is gone.
    pub fn open(root: &Path, id: &str) -> Result<StateDir, ContainerError> {
        validate_id(id)?;
        let path = root.join(id);
        let gone = || ContainerError::NotFound(id.to_string());
        let fd = match lock(&path, id) {
            Ok(fd) => fd,
            Err(ContainerError::Sys(e)) if e.errno() == Some(libc::ENOENT) => return Err(gone()),
            Err(e) => return Err(e),
        };
        let locked = rustix::fs::fstat(&fd).sys("stat", path.display())?;
        match rustix::fs::stat(&path) {
            Ok(now) if (now.st_dev, now.st_ino) == (locked.st_dev, locked.st_ino) => {}
            _ => return Err(gone()),
        }
        Ok(StateDir::new(path, fd))
    }

    pub fn load(&self) -> Result<State, ContainerError> {
        load(&self.path)
    }

    /// What delete needs of a container whose state.json is damaged.
    pub fn load_record(&self) -> Result<State, ContainerError> {
        read_json(&self.path, CLEANUP_FILE)
    }

    pub fn save(&self, state: &State) -> Result<(), ContainerError> {
        let data = serde_json::to_vec(state).expect("state serialises");
        self.replace(STATE_FILE, &data)?;
        let record = serde_json::to_vec(&state.cleanup_record()).expect("state serialises");
        let mut last = self.record.borrow_mut();
        if last.is_none() {
            // Opened by a later command: what an earlier one wrote.
            *last = std::fs::read(self.path.join(CLEANUP_FILE)).ok();
        }
        if last.as_deref() != Some(&record[..]) {
            self.replace(CLEANUP_FILE, &record)?;
            *last = Some(record);
        }
        Ok(())
    }

    /// Writes `name` whole: a reader sees the old file or the new one.
    fn replace(&self, name: &str, data: &[u8]) -> Result<(), ContainerError> {
        let tmp = self.path.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, data).sys("write", tmp.display())?;
        std::fs::rename(&tmp, self.path.join(name)).sys("rename", tmp.display())?;
        Ok(())
    }

    /// Removes the directory. It is first moved out of root/ID in one
    /// rename, so that `state` and `list` running meanwhile see the
    /// container whole or not at all, never a directory half emptied (whose
    /// missing state.json would read as an interrupted create). The name
    /// it is moved to is no valid id ('~'), so list passes over it, and is
    /// this process's own, so two deletes never meet there.
    pub fn remove(&self) -> Result<(), ContainerError> {
        let root = self.path.parent().unwrap_or(Path::new("/"));
        let away = root.join(format!("~deleted.{}", std::process::id()));
        let mut from = &self.path;
        match std::fs::rename(&self.path, &away) {
            Ok(()) => from = &away,
            // What a killed berth of this pid left there.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => {
                let _ = std::fs::remove_dir_all(&away);
                if std::fs::rename(&self.path, &away).is_ok() {
                    from = &away;
                }
            }
            Err(_) => {}
        }
        std::fs::remove_dir_all(from).sys("remove", from.display())?;
        sweep(root);
        Ok(())
    }

    pub fn fifo(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }
}

/// Removes what deletes killed mid-way left (a `~deleted.<pid>` whose
/// berth is gone): no command looks at it, nothing else would clear it. One
/// whose pid lives is a delete still at work (or, after pid reuse, is left
/// to a later sweep).
fn sweep(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("~deleted."))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = rustix::process::Pid::from_raw(pid)
            .is_none_or(|p| rustix::process::test_kill_process(p) == Err(rustix::io::Errno::SRCH));
        if gone {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Reads a container's state without taking its lock (state, list).
pub fn load(dir: &Path) -> Result<State, ContainerError> {
    read_json(dir, STATE_FILE)
}

fn read_json(dir: &Path, name: &str) -> Result<State, ContainerError> {
    let file = dir.join(name);
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let data = match std::fs::read(&file) {
        Ok(d) => d,
        // A directory without a state file is a create killed before its
        // first write: there is nothing in it but the directory.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(if dir.is_dir() {
                ContainerError::NoState(id)
            } else {
                ContainerError::NotFound(id)
            });
        }
        Err(e) => return Err(SysError::new("read", file.display(), e).into()),
    };
    serde_json::from_slice(&data).map_err(|e| ContainerError::Damaged {
        id,
        file: file.display().to_string(),
        why: e.to_string(),
    })
}

/// How long a command waits for another one to release a container's
/// lock: one that does not (a `start` whose process hangs before its exec,
/// a stopped berth) is named instead of waited for forever.
const LOCK_BOUND: (&str, Duration) = ("BERTH_LOCK_TIMEOUT", Duration::from_secs(60));

/// Opens and locks the directory. The lock is tried without blocking, then
/// again with a growing pause (flock has no timeout of its own, and a
/// timer signal to break a blocking one would reach every thread): the
/// common case, nobody holding it, costs one call.
fn lock(path: &Path, id: &str) -> Result<OwnedFd, ContainerError> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .sys("open", path.display())?;
    let start = Instant::now();
    let bound = crate::cgroups::bound(LOCK_BOUND.0, LOCK_BOUND.1);
    let mut pause = Duration::from_millis(1);
    loop {
        match rustix::fs::flock(fd.as_fd(), FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(fd),
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::WOULDBLOCK) if start.elapsed() < bound => {
                std::thread::sleep(pause.min(bound.saturating_sub(start.elapsed())));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(ContainerError::Locked {
                    id: id.to_string(),
                    waited: start.elapsed(),
                    holder: holder(&fd),
                });
            }
            Err(e) => return Err(SysError::new("lock", path.display(), e).into()),
        }
    }
}

/// Who holds the flock on `fd`'s directory, from /proc/locks: "process
/// 1234 (berth start c1)".
fn holder(fd: &OwnedFd) -> String {
    let unknown = || "another process".to_string();
    let Ok(st) = rustix::fs::fstat(fd) else {
        return unknown();
    };
    let (major, minor) = (rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev));
    let key = format!("{major:02x}:{minor:02x}:{}", st.st_ino);
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let pid = locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&"FLOCK") && f.get(5) == Some(&key.as_str())).then(|| f[4].to_string())
    });
    let Some(pid) = pid else {
        return unknown();
    };
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd: Vec<String> = cmd
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    format!("process {pid} ({})", cmd.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "abc-1_2.3", "A+b"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a..b", "a b", "x\n"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }
}
