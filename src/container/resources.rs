//! What a running container's cgroup offers: pause and resume, its
//! processes, statistics and OOM events, and updated limits.

use super::ContainerError;
use super::dir::{self, StateDir};
use super::rootless::{cgroup_of, limits_without_cgroup, need_cgroup};
use super::state::{State, Status};
use crate::cgroups::stats::Event;
use crate::cgroups::{self, CgroupManager};
use crate::error::{SysContext, SysError};
use oci_spec::runtime::LinuxResources;
use rustix::event::{PollFd, PollFlags};
use std::path::Path;
use std::time::Duration;

fn wrong(state: &State, op: &'static str, status: Status) -> ContainerError {
    ContainerError::WrongStatus {
        id: state.id.clone(),
        op,
        status,
    }
}

/// `pause` (freeze) and `resume` (thaw); each returns once the cgroup is
/// in the new state.
pub fn pause(root: &Path, id: &str, frozen: bool) -> Result<(), ContainerError> {
    let dir = StateDir::open(root, id)?;
    let state = dir.load()?;
    let status = state.status();
    // runc's phrases: a client tells "already paused" from "gone" by them.
    if frozen && !matches!(status, Status::Running | Status::Created) {
        return Err(ContainerError::NotRunning {
            id: id.into(),
            status,
        });
    }
    if !frozen && status != Status::Paused {
        return Err(ContainerError::NotPaused {
            id: id.into(),
            status,
        });
    }
    need_cgroup(&state, if frozen { "pause" } else { "resume" })?.freeze(frozen)?;
    Ok(())
}

/// The host pids of every process in the container's cgroup.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>, ContainerError> {
    dir::validate_id(id)?;
    let state = dir::load(&root.join(id))?;
    Ok(need_cgroup(&state, "list the processes of")?.pids()?)
}

/// `events`: one stats event with `stats_only`; else a stats event every
/// `interval` and an oom event for each OOM kill, until the container
/// stops. Blocks in one poll on the OOM fd, a timerfd and the pidfd.
pub fn events(
    root: &Path,
    id: &str,
    interval: Duration,
    stats_only: bool,
    out: &mut dyn FnMut(String),
) -> Result<(), ContainerError> {
    dir::validate_id(id)?;
    let state = dir::load(&root.join(id))?;
    let status = state.status();
    if matches!(status, Status::Stopped | Status::Creating) {
        return Err(wrong(&state, "watch", status));
    }
    let cg = need_cgroup(&state, "watch")?;
    let stats_event = |cg: &cgroups::Manager| -> Result<String, ContainerError> {
        let s = cg.stats()?;
        Ok(serde_json::to_string(&Event {
            kind: "stats",
            id,
            data: Some(&s),
        })
        .expect("serialises"))
    };
    if stats_only {
        out(stats_event(&cg)?);
        return Ok(());
    }
    let mut oom = cg.oom_watch()?;
    let pidfd = super::shared::pidfd(&state)?;
    let timer = rustix::time::timerfd_create(
        rustix::time::TimerfdClockId::Monotonic,
        rustix::time::TimerfdFlags::CLOEXEC,
    )
    .sys("timerfd", "")?;
    let ts = rustix::time::Timespec {
        tv_sec: interval.as_secs() as i64,
        tv_nsec: interval.subsec_nanos() as i64,
    };
    rustix::time::timerfd_settime(
        &timer,
        rustix::time::TimerfdTimerFlags::empty(),
        &rustix::time::Itimerspec {
            it_interval: ts,
            it_value: ts,
        },
    )
    .sys("timerfd_settime", "")?;
    loop {
        let oom_fd = oom.fd();
        let mut fds = [
            PollFd::new(&oom_fd, oom.flags()),
            PollFd::new(&timer, PollFlags::IN),
            PollFd::new(&pidfd, PollFlags::IN),
        ];
        match rustix::event::poll(&mut fds, None) {
            Err(rustix::io::Errno::INTR) => continue,
            r => {
                r.sys("poll", "events")?;
            }
        }
        let (oom_ready, tick, exited) = (
            !fds[0].revents().is_empty(),
            !fds[1].revents().is_empty(),
            !fds[2].revents().is_empty(),
        );
        if oom_ready {
            for _ in 0..oom.take() {
                out(serde_json::to_string(&Event {
                    kind: "oom",
                    id,
                    data: None,
                })
                .expect("serialises"));
            }
        }
        if tick {
            let mut buf = [0u8; 8];
            let _ = rustix::io::read(&timer, &mut buf);
            out(stats_event(&cg)?);
        }
        if exited {
            return Ok(());
        }
    }
}

/// `update`: new limits on a running container.
pub fn update(root: &Path, id: &str, r: &LinuxResources) -> Result<(), ContainerError> {
    let dir = StateDir::open(root, id)?;
    let state = dir.load()?;
    let status = state.status();
    if status == Status::Stopped {
        return Err(wrong(&state, "update", status));
    }
    // As runc: with no cgroup, what sets no limit succeeds.
    let Some(cg) = cgroup_of(&state)? else {
        return limits_without_cgroup(r);
    };
    if let Some(m) = r.memory()
        && let (Some(limit), Some(true)) = (m.limit(), m.check_before_update())
    {
        let usage = cg.stats()?.memory.usage.usage;
        if limit > 0 && (limit as u64) < usage {
            return Err(SysError::new(
                "update",
                "linux.resources.memory.limit",
                std::io::Error::other(format!(
                    "{limit} is below the current usage of {usage} bytes (checkBeforeUpdate)"
                )),
            )
            .into());
        }
    }
    cg.check(r, &[])?;
    cg.apply(r, &[])?;
    Ok(())
}

/// Whether the OOM killer struck in the container's cgroup, said for a
/// user: `run` tells them when its process died by SIGKILL, which alone
/// does not say who sent it.
pub fn oom_report(root: &Path, id: &str) -> Option<String> {
    let state = dir::load(&root.join(id)).ok()?;
    let oom = cgroup_of(&state).ok()??.oom_kills()?;
    if oom.kills == 0 {
        return None;
    }
    let limit = match oom.limit {
        Some(l) => format!("its memory limit is {} ({l} bytes)", human_bytes(l)),
        None => "it has no memory limit of its own".into(),
    };
    Some(format!(
        "container \"{id}\": the OOM killer killed {} in it; {limit}",
        match oom.kills {
            1 => "a process".to_string(),
            n => format!("{n} processes"),
        }
    ))
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut unit = "bytes";
    let mut v = b as f64;
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    match unit {
        "bytes" => format!("{b} bytes"),
        u if v.fract() == 0.0 => format!("{v} {u}"),
        u => format!("{v:.1} {u}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(super::human_bytes(16 << 20), "16 MiB");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(1000), "1000 bytes");
        assert_eq!(super::human_bytes(3 << 30), "3 GiB");
    }
}
