//! The operations on an existing container: start, kill, delete, list.

use super::ContainerError;
use super::dir::{self, StateDir};
use super::failure::Failure;
use super::patience::{EXEC, Patience};
use super::rootless::cgroup_of;
use super::shared::{pidfd, poststart, wrong};
use super::state::{Phase, State, Status};
use super::teardown;
use crate::cgroups::CgroupManager;
use crate::error::{SysContext, SysError};
use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, PidfdFlags, Signal};
use std::path::Path;

/// `start`: releases the process waiting on exec.fifo and returns once it
/// has exec'd the user's program (the fifo's write end closes at exec) or
/// reported why it could not.
pub fn start(root: &Path, id: &str) -> Result<(), ContainerError> {
    // To the exec of the user's program (exec.fifo's write end closing).
    let _phase = crate::logging::span("start");
    let dir = StateDir::open(root, id)?;
    let mut state = dir.load()?;
    let status = state.status();
    if status != Status::Created {
        return Err(wrong(&state, "start", status));
    }
    // The pidfd first: opening the fifo releases the process, which may
    // exec a program that is done before we look.
    let pidfd = pidfd(&state)?;
    let fifo_path = dir.fifo();
    let fifo = rustix::fs::open(
        &fifo_path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .sys("open", fifo_path.display())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // Bounded as each setup step is, with its startContainer hooks' time.
    let patience = Patience::new(state.pid);
    let hooks = state.hooks.as_ref();
    patience.expect(EXEC, hooks.and_then(|h| h.start_container().as_deref()));
    patience.restart();
    // Wait for the process's byte and then for the fifo to close, or for
    // the process to die: both block in poll, nothing is polled in a loop.
    loop {
        let mut fds = [
            PollFd::new(&fifo, PollFlags::IN),
            PollFd::new(&pidfd, PollFlags::IN),
        ];
        let ready =
            crate::syscall::poll_until(&mut fds, patience.deadline()).sys("poll", "exec.fifo")?;
        if ready == 0 {
            // exec.fifo stays: a later start can still release the process.
            return Err(patience.exceeded(id));
        }
        let fifo_ready = !fds[0].revents().is_empty();
        let died = !fds[1].revents().is_empty();
        if fifo_ready {
            match rustix::io::read(&fifo, &mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(rustix::io::Errno::AGAIN) => {}
                Err(e) => return Err(SysError::new("read", fifo_path.display(), e).into()),
            }
        } else if died {
            break;
        }
    }
    let _ = std::fs::remove_file(&fifo_path);
    if got.is_empty() {
        return Err(ContainerError::ExitedBeforeStart(id.into()));
    }
    if got.len() > 1 {
        // The failure the process wrote after the "0" (init.rs).
        return Err(match Failure::from_json(&got[1..]) {
            Some(failure) => ContainerError::Process {
                id: id.into(),
                failure,
            },
            None => ContainerError::Protocol {
                id: id.into(),
                got: String::from_utf8_lossy(&got[1..]).into_owned(),
            },
        });
    }
    state.phase = Phase::Started;
    dir.save(&state)?;
    drop(dir);
    crate::logging::debug(&format!("container {id} started"));
    poststart(&state);
    Ok(())
}

/// runc's signal names: SIGKILL, KILL or 9; `None` for 0, the signal that
/// only asks whether the process is there (kill(2)), which rustix's Signal
/// cannot hold.
pub fn parse_signal(s: &str) -> Result<Option<Signal>, ContainerError> {
    let bad = || ContainerError::Usage(format!("unknown signal \"{s}\""));
    if let Ok(n) = s.parse::<i32>() {
        return if n == 0 {
            Ok(None)
        } else {
            Signal::from_named_raw(n).map(Some).ok_or_else(bad)
        };
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return Err(bad()),
    };
    Signal::from_named_raw(n).map(Some).ok_or_else(bad)
}

/// `kill`: the container's process, or with `all` every process in its
/// cgroup. Signal 0 (`None`) sends nothing: it succeeds while the process
/// is there, as kill(2)'s does. Of a stopped container, as runc: an error
/// for its process, nothing to do for `all`.
pub fn kill(root: &Path, id: &str, sig: Option<Signal>, all: bool) -> Result<(), ContainerError> {
    let dir = StateDir::open(root, id)?;
    let state = dir.load()?;
    let status = state.status();
    if all {
        if let Some(sig) = sig.filter(|_| status != Status::Stopped) {
            match cgroup_of(&state)? {
                Some(cg) => cg.signal_all(sig)?,
                // Without a cgroup (rootless): its pid namespace, or its
                // process alone. (runc 1.1.5 fails here, "lstat : no such
                // file or directory".)
                None => signal_without_cgroup(&state, sig),
            }
        }
        return Ok(());
    }
    if status == Status::Stopped {
        return Err(ContainerError::NotRunning {
            id: id.into(),
            status,
        });
    }
    let fd = pidfd(&state)?;
    if let Some(sig) = sig {
        rustix::process::pidfd_send_signal(&fd, sig)
            .sys("signal", format!("container process {}", state.pid))?;
    }
    Ok(())
}

/// `kill --all` of a container without a cgroup: every process in its pid
/// namespace, else its process (the signal may end some meanwhile).
fn signal_without_cgroup(state: &State, sig: Signal) {
    let pids = match state.pid_ns {
        true => super::rootless::pid_namespace_members(state.pid),
        false => vec![state.pid],
    };
    for pid in pids {
        if let Some(p) = Pid::from_raw(pid)
            && let Ok(fd) = rustix::process::pidfd_open(p, PidfdFlags::empty())
        {
            let _ = rustix::process::pidfd_send_signal(&fd, sig);
        }
    }
}

/// `delete`: a stopped container, or with `force` any, is killed with
/// everything in its cgroup, its cgroup removed, poststop hooks run and
/// its state removed.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), ContainerError> {
    let _phase = crate::logging::span("delete");
    let dir = match StateDir::open(root, id) {
        Ok(d) => d,
        // Clients delete --force what may already be gone.
        Err(ContainerError::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let state = match dir.load() {
        Ok(s) => s,
        Err(e @ (ContainerError::NoState(_) | ContainerError::Damaged { .. })) if force => {
            match from_record(&dir, id, e)? {
                Some(s) => s,
                None => return dir.remove(),
            }
        }
        Err(e) => return Err(e),
    };
    let status = state.status();
    if status != Status::Stopped && !force {
        return Err(wrong(&state, "delete", status));
    }
    let cg = cgroup_of(&state)?;
    let mut left = teardown::kill_all(&state, cg.as_ref())?;
    if left.is_empty() {
        super::resctrl::remove(state.resctrl.as_ref());
        if let Some(before) = state.host_mounts {
            crate::mounts::detach_from_host(Path::new(&state.rootfs), before);
        }
    }
    if let Some(cg) = cg {
        match cg.pids().map(|p| p.len()) {
            // Still there: rmdir could only fail.
            _ if !left.is_empty() => {
                left.push(format!("its cgroup {} is kept for them", state.cgroup_path))
            }
            // What is left in the cgroup now is not the container's
            // (kill_all): its cgroup stays for them, as it did before create.
            Ok(n) if n > 0 && state.pid_ns => crate::logging::warn(&format!(
                "container {id}: cgroup {} still holds {n} process(es) that are not the container's: it is left in place",
                state.cgroup_path
            )),
            _ => {
                if let Err(e) = cg.destroy() {
                    left.push(e.to_string());
                }
            }
        }
    }
    // The state stays, so that a second delete finds what is left.
    if !left.is_empty() {
        return Err(ContainerError::Unfinished {
            id: id.into(),
            left: left.join("; "),
        });
    }
    if let Some(h) = state.hooks.as_ref().and_then(|h| h.poststop().clone()) {
        let bound = force.then(teardown::hook_bound);
        let json = state.oci(Status::Stopped).json();
        crate::hooks::run_all_warn_bounded("poststop", &h, &json, bound);
    }
    crate::logging::debug(&format!("container {id} deleted"));
    dir.remove()
}

/// The state delete --force works from when state.json is missing or
/// damaged (`e`): cleanup.json's record. None when neither file exists (a
/// create killed before its first write left only the directory); an
/// error, once the directory is removed, when state.json is damaged and the
/// record is unusable too: what the container left cannot be found.
fn from_record(
    dir: &StateDir,
    id: &str,
    e: ContainerError,
) -> Result<Option<State>, ContainerError> {
    match (dir.load_record(), e) {
        (Ok(record), e) => {
            crate::logging::warn(&format!(
                "container {id}: {}; cleaning up from {}",
                match e {
                    ContainerError::Damaged { file, why, .. } =>
                        format!("{file} is damaged ({why})"),
                    _ => format!("{} is missing", dir::STATE_FILE),
                },
                dir::CLEANUP_FILE
            ));
            Ok(Some(record))
        }
        (Err(ContainerError::NoState(_)), ContainerError::NoState(_)) => Ok(None),
        (Err(r), e) => {
            dir.remove()?;
            Err(ContainerError::Lost {
                id: id.into(),
                why: format!("{e}; and {r}"),
            })
        }
    }
}

/// A container's state and its status now (no lock: state.json is
/// replaced whole).
pub fn state(root: &Path, id: &str) -> Result<(State, Status), ContainerError> {
    dir::validate_id(id)?;
    let state = dir::load(&root.join(id))?;
    let status = state.status();
    Ok((state, status))
}

/// Every container under `root`, sorted by id, with its status now and
/// the name of the user owning its state directory (runc's list owner).
pub fn list(root: &Path) -> Result<Vec<(State, Status, String)>, ContainerError> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SysError::new("read", root.display(), e).into()),
    };
    let mut out = Vec::new();
    // Read once for every owner's name.
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for e in entries.flatten() {
        let named_as_id = e
            .file_name()
            .to_str()
            .is_some_and(|n| dir::validate_id(n).is_ok());
        if !named_as_id || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        // A delete renames the directory away between the readdir and
        // here: the container is gone, as it is a moment later.
        let uid = match e.metadata() {
            Ok(m) => std::os::unix::fs::MetadataExt::uid(&m),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(SysError::new("stat", e.path().display(), err).into()),
        };
        match dir::load(&e.path()) {
            Ok(state) => {
                let status = state.status();
                out.push((state, status, user_name(&passwd, uid)));
            }
            // As runc: the others are listed, this one named on stderr.
            Err(err @ ContainerError::Damaged { .. }) => crate::logging::warn(&err.to_string()),
            // Deleted meanwhile, or a create that has not written it yet.
            Err(_) => {}
        }
    }
    out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    Ok(out)
}

/// A uid's name in the host's passwd text, or `#uid` as runc writes one it
/// cannot name.
fn user_name(passwd: &str, uid: u32) -> String {
    crate::process::user::passwd_field(passwd, uid, 0)
        .map_or_else(|| format!("#{uid}"), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nshort:x\nu:x:1000:1000::/home/u:/bin/sh\n";
        assert_eq!(user_name(passwd, 0), "root");
        assert_eq!(user_name(passwd, 1000), "u");
        assert_eq!(user_name(passwd, 4_000_000_000), "#4000000000");
    }

    #[test]
    fn signal_names() {
        for s in ["KILL", "SIGKILL", "9", "kill"] {
            assert_eq!(parse_signal(s).unwrap(), Some(Signal::KILL), "{s}");
        }
        assert_eq!(parse_signal("TERM").unwrap(), Some(Signal::TERM));
        assert_eq!(parse_signal("0").unwrap(), None);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
