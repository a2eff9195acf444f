//! What more than one of the container's operations needs: the mode of a
//! create, the console socket's connection, the terminal relay's pair, the
//! pid file, pidfds (a checked one on the container's process), killing a
//! half-made process, and the poststart hooks. The operations
//! (create, init, exec, lifecycle, resources) share these and never
//! borrow from one another (tests/flow.rs checks it).

use super::ContainerError;
use super::state::{State, Status};
use crate::error::{SysContext, SysError};
use rustix::process::{Pid, PidfdFlags};
use std::os::fd::OwnedFd;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `create`: the process waits on exec.fifo for a later `start`.
    Detached,
    /// `run`: this berth process starts it over the sync channel.
    Foreground,
}

pub fn connect(path: &Path) -> Result<OwnedFd, ContainerError> {
    let sock = rustix::net::socket_with(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .sys("socket", "")?;
    let addr = rustix::net::SocketAddrUnix::new(path).sys("console socket", path.display())?;
    rustix::net::connect(&sock, &addr).sys("connect to console socket", path.display())?;
    Ok(sock)
}

/// When berth relays a terminal itself: a pair whose first end it keeps,
/// to receive the pty master from the process holding the second.
pub fn terminal_pair() -> Result<(OwnedFd, OwnedFd), SysError> {
    rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .sys("socketpair", "terminal")
}

/// A pidfd on a process berth forked (its own child: the pid cannot be
/// reused while it is unreaped).
pub fn pidfd_of(pid: i32) -> Result<OwnedFd, SysError> {
    rustix::process::pidfd_open(
        Pid::from_raw(pid).expect("positive pid"),
        PidfdFlags::empty(),
    )
    .sys("pidfd_open", pid)
}

/// In a process berth forked: a panic must not unwind into the parent's
/// frames and run their cleanup (remove the state, kill the container) in
/// this process. It says what it was and ends.
pub fn exit_on_panic(what: &'static str, status: i32) {
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("berth: {what}: {info}");
        // SAFETY: _exit ends the process at once, which is what is wanted.
        unsafe { libc::_exit(status) }
    }));
}

/// The pid file, written whole or not at all (clients read it at once).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), ContainerError> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, pid.to_string()).sys("write pid file", tmp.display())?;
    std::fs::rename(&tmp, path).sys("write pid file", path.display())?;
    Ok(())
}

/// A pidfd on the container's process, checked (after the open, so a
/// reuse of the pid cannot slip in between) to still be that process.
pub fn pidfd(state: &State) -> Result<OwnedFd, ContainerError> {
    let Some(pid) = Pid::from_raw(state.pid).filter(|_| state.alive()) else {
        return Err(wrong(state, "reach the process of", state.status()));
    };
    let fd = rustix::process::pidfd_open(pid, PidfdFlags::empty()).sys("pidfd_open", state.pid)?;
    if !state.alive() {
        return Err(wrong(state, "reach the process of", Status::Stopped));
    }
    Ok(fd)
}

pub fn poststart(state: &State) {
    if let Some(h) = state.hooks.as_ref().and_then(|h| h.poststart().clone()) {
        crate::hooks::run_all_warn("poststart", &h, &state.oci(Status::Running).json());
    }
}

/// The error for an operation the container's status does not allow.
pub fn wrong(state: &State, op: &'static str, status: Status) -> ContainerError {
    ContainerError::WrongStatus {
        id: state.id.clone(),
        op,
        status,
    }
}
