//! The listener fd of an SCMP_ACT_NOTIFY filter goes to the agent at
//! linux.seccomp.listenerPath as the runtime-spec says: one message, the
//! container process state as JSON, the fd attached with SCM_RIGHTS.

use crate::error::{SysContext, SysError};
use serde::Serialize;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

#[derive(Serialize)]
struct ContainerProcessState<'a, S: Serialize> {
    #[serde(rename = "ociVersion")]
    oci_version: &'a str,
    fds: [&'a str; 1],
    pid: i32,
    metadata: &'a str,
    state: S,
}

pub fn send_to_listener<S: Serialize>(
    path: &Path,
    metadata: &str,
    pid: i32,
    state: S,
    fd: BorrowedFd,
) -> Result<(), SysError> {
    let what = format!("seccomp listener {}", path.display());
    let sock = rustix::net::socket_with(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .sys("socket", &what)?;
    let addr = rustix::net::SocketAddrUnix::new(path).sys("connect to", &what)?;
    rustix::net::connect(&sock, &addr).sys("connect to", &what)?;
    let msg = ContainerProcessState {
        oci_version: crate::config::SPEC_VERSION,
        fds: ["seccompFd"],
        pid,
        metadata,
        state,
    };
    let json = serde_json::to_vec(&msg).expect("plain data serialises");
    crate::syscall::send_fd(sock.as_fd(), &json, fd)
}
