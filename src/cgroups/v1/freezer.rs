//! The v1 freezer: pause and resume every process of the container.

use crate::cgroups::CgroupError;
use crate::error::SysError;
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes `state` (FROZEN or THAWED) and waits until the cgroup is in it.
/// v1 has no event for this: the state file is read again, with a short
/// pause, for as long as the kernel says FREEZING, up to the bound
/// (BERTH_FREEZE_TIMEOUT, 10 s): a process in uninterruptible sleep that
/// the freezer cannot stop (a hung FUSE or NFS request) keeps it there.
pub fn set(dir: &Path, state: &str) -> Result<(), CgroupError> {
    let file = dir.join("freezer.state");
    let start = Instant::now();
    let until = super::super::deadline(super::super::FREEZE_BOUND);
    let mut pause = Duration::from_micros(100);
    loop {
        std::fs::write(&file, state)
            .map_err(|e| SysError::new("write", format!("{state} to {}", file.display()), e))?;
        let now =
            std::fs::read_to_string(&file).map_err(|e| SysError::new("read", file.display(), e))?;
        if now.trim() == state {
            return Ok(());
        }
        if Instant::now() >= until {
            // A freeze half done is undone (as runc does): its processes
            // run on, and the error names what held it.
            if state == "FROZEN" {
                let _ = std::fs::write(&file, "THAWED");
            }
            return Err(CgroupError::FreezeTimeout {
                dir: dir.display().to_string(),
                what: if state == "FROZEN" { "freeze" } else { "thaw" },
                waited: start.elapsed(),
                file: "freezer.state",
                state: now.trim().to_string(),
                stuck: super::super::stuck(dir),
            });
        }
        std::thread::sleep(pause.min(until.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}
