//! Waiting for OOM kills in the container's cgroup without polling: on v1
//! an eventfd registered on memory.oom_control, on v2 memory.events, which
//! the kernel flags (POLLPRI) when it changes.

use crate::error::{SysContext, SysError};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

pub enum OomWatch {
    V1 {
        eventfd: OwnedFd,
        _control: OwnedFd,
    },
    V2 {
        events: PathBuf,
        file: OwnedFd,
        seen: u64,
    },
}

impl OomWatch {
    pub fn v1(memory_dir: &Path) -> Result<OomWatch, SysError> {
        let efd =
            rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).sys("eventfd", "")?;
        let ctl_path = memory_dir.join("memory.oom_control");
        let control = rustix::fs::open(
            &ctl_path,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .sys("open", ctl_path.display())?;
        let reg = memory_dir.join("cgroup.event_control");
        std::fs::write(&reg, format!("{} {}", efd.as_raw_fd(), control.as_raw_fd()))
            .sys("write", reg.display())?;
        Ok(OomWatch::V1 {
            eventfd: efd,
            _control: control,
        })
    }

    pub fn v2(dir: &Path) -> Result<OomWatch, SysError> {
        let events = dir.join("memory.events");
        let file = rustix::fs::open(
            &events,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .sys("open", events.display())?;
        let seen = oom_kills(&events);
        Ok(OomWatch::V2 { events, file, seen })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        match self {
            OomWatch::V1 { eventfd, .. } => eventfd.as_fd(),
            OomWatch::V2 { file, .. } => file.as_fd(),
        }
    }

    /// What to poll the fd for.
    pub fn flags(&self) -> rustix::event::PollFlags {
        match self {
            OomWatch::V1 { .. } => rustix::event::PollFlags::IN,
            OomWatch::V2 { .. } => rustix::event::PollFlags::PRI,
        }
    }

    /// After the fd fired: how many OOM kills happened since last time.
    pub fn take(&mut self) -> u64 {
        match self {
            OomWatch::V1 { eventfd, .. } => {
                let mut buf = [0u8; 8];
                match rustix::io::read(&*eventfd, &mut buf) {
                    Ok(8) => u64::from_ne_bytes(buf),
                    _ => 0,
                }
            }
            OomWatch::V2 { events, file, seen } => {
                // Re-arm: kernfs flags a file until it is read from the start.
                let _ = rustix::fs::seek(&*file, rustix::fs::SeekFrom::Start(0));
                let mut buf = [0u8; 512];
                let _ = rustix::io::read(&*file, &mut buf);
                let now = oom_kills(events);
                let new = now.saturating_sub(*seen);
                *seen = now;
                new
            }
        }
    }
}

/// How often the OOM killer struck in a cgroup, and the memory limit in
/// force there (None: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OomKills {
    pub kills: u64,
    pub limit: Option<u64>,
}

impl OomKills {
    /// From v1's memory.oom_control and memory.limit_in_bytes, or v2's
    /// memory.events and memory.max, in `dir`.
    pub fn read(dir: &Path, v1: bool) -> OomKills {
        let (events, limit) = match v1 {
            true => ("memory.oom_control", "memory.limit_in_bytes"),
            false => ("memory.events", "memory.max"),
        };
        let limit = std::fs::read_to_string(dir.join(limit))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            // v1 writes "no limit" as the largest page-aligned number.
            .filter(|l| *l < 1 << 62);
        OomKills {
            kills: oom_kills(&dir.join(events)),
            limit,
        }
    }
}

fn oom_kills(events: &Path) -> u64 {
    super::stats::read_kv(events)
        .get("oom_kill")
        .copied()
        .unwrap_or(0)
}
