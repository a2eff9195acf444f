//! The state directory --root/ID: created exclusively (so an id exists
//! once), locked with flock against two commands on one id at once, and
//! written by write + rename so a reader never sees half a file.

use super::ContainerError;
use super::state::State;
use crate::error::{SysContext, SysError};
use rustix::fs::{FlockOperation, Mode, OFlags};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

pub struct StateDir {
    pub path: PathBuf,
    /// Holds the flock for as long as the command runs.
    pub fd: OwnedFd,
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
        let fd = lock(&path)?;
        Ok(StateDir { path, fd })
    }

    /// Opens and locks an existing container's directory. A directory
    /// removed while this waited for the lock (a delete that held it) has
    /// no links left: the container is gone.
    pub fn open(root: &Path, id: &str) -> Result<StateDir, ContainerError> {
        validate_id(id)?;
        let path = root.join(id);
        let fd = match lock(&path) {
            Ok(fd) => fd,
            Err(e) if e.errno() == Some(libc::ENOENT) => {
                return Err(ContainerError::NotFound(id.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        if rustix::fs::fstat(&fd).sys("stat", path.display())?.st_nlink == 0 {
            return Err(ContainerError::NotFound(id.to_string()));
        }
        Ok(StateDir { path, fd })
    }

    pub fn load(&self) -> Result<State, ContainerError> {
        load(&self.path)
    }

    pub fn save(&self, state: &State) -> Result<(), ContainerError> {
        let tmp = self.path.join(".state.json.tmp");
        let data = serde_json::to_vec(state).expect("state serialises");
        std::fs::write(&tmp, data).sys("write", tmp.display())?;
        std::fs::rename(&tmp, self.path.join(STATE_FILE)).sys("rename", tmp.display())?;
        Ok(())
    }

    pub fn remove(self) -> Result<(), ContainerError> {
        std::fs::remove_dir_all(&self.path).sys("remove", self.path.display())?;
        Ok(())
    }

    pub fn fifo(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }
}

/// Reads a container's state without taking its lock (state, list).
pub fn load(dir: &Path) -> Result<State, ContainerError> {
    let file = dir.join(STATE_FILE);
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
    serde_json::from_slice(&data).map_err(|e| ContainerError::Corrupt(id, e.to_string()))
}

fn lock(path: &Path) -> Result<OwnedFd, SysError> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .sys("open", path.display())?;
    rustix::fs::flock(fd.as_fd(), FlockOperation::LockExclusive).sys("lock", path.display())?;
    Ok(fd)
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
