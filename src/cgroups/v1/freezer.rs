//! The v1 freezer: pause and resume every process of the container.

use crate::cgroups::CgroupError;
use crate::error::SysError;
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes `state` (FROZEN or THAWED) and waits until the cgroup is in it.
/// v1 has no event for this: the state file is read again, with a short
/// pause, for as long as the kernel says FREEZING (bounded at 10 s).
pub fn set(dir: &Path, state: &str) -> Result<(), CgroupError> {
    let file = dir.join("freezer.state");
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    loop {
        std::fs::write(&file, state)
            .map_err(|e| SysError::new("write", format!("{state} to {}", file.display()), e))?;
        let now =
            std::fs::read_to_string(&file).map_err(|e| SysError::new("read", file.display(), e))?;
        if now.trim() == state {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err(SysError::new(
                "freeze",
                dir.display(),
                std::io::Error::other(format!("still {} after 10 s", now.trim())),
            )
            .into());
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}
