//! Which of berth's file descriptors the container process keeps: stdio,
//! the --preserve-fds ones and socket-activation fds (LISTEN_FDS); every
//! other one is marked close-on-exec, whoever opened it.

/// How many fds from 3 up pass to the container, and the LISTEN_FDS value
/// to put in its environment, if berth was socket-activated.
pub fn passed(preserve_fds: u32) -> (u32, Option<u32>) {
    let listen = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| *n > 0);
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        == Some(std::process::id());
    let listen = listen.filter(|_| for_us);
    (preserve_fds + listen.unwrap_or(0), listen)
}

/// Marks everything above the passed fds close-on-exec.
pub fn close_others(passed: u32) -> Result<(), crate::error::SysError> {
    use crate::error::SysContext;
    crate::syscall::cloexec_from(3 + passed).sys("close_range", "")
}

/// Gives stdio to the process's user before it becomes that user, as runc
/// does, so that it can reopen /dev/stdout: its own pty (`terminal`; the
/// group stays devpts's tty group) and the pipes, sockets and files the
/// caller made for it. A device the caller passes (/dev/null, a terminal of
/// the host's) is the host's and keeps its owner: runc would hand it over.
pub fn chown_stdio(uid: u32, terminal: bool) -> Result<(), crate::error::SysError> {
    use crate::error::SysContext;
    use rustix::fs::FileType;
    for fd in 0..3 {
        // SAFETY: stdio is this process's for as long as the call lasts.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let Ok(st) = rustix::fs::fstat(fd) else {
            continue;
        };
        let device = matches!(
            FileType::from_raw_mode(st.st_mode),
            FileType::CharacterDevice | FileType::BlockDevice
        );
        if st.st_uid == uid || (device && !terminal) {
            continue;
        }
        match rustix::fs::fchown(fd, Some(rustix::fs::Uid::from_raw(uid)), None) {
            // The owner or the uid is not mapped in the container's user
            // namespace, or the file is on a read-only mount: the process
            // keeps what it was given, as with runc.
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::PERM | rustix::io::Errno::ROFS) => {}
            r => r.sys(
                "chown",
                format!("stdio fd {}", std::os::fd::AsRawFd::as_raw_fd(&fd)),
            )?,
        }
    }
    Ok(())
}
