//! process.terminal with --console-socket: a pty from the container's own
//! devpts, the slave as the process's controlling terminal, stdio and
//! /dev/console, the master sent to the socket with SCM_RIGHTS as runc
//! sends it (containerd and conmon receive it the same way).

use crate::error::{SysContext, SysError};
use crate::syscall::send_fd;
use rustix::pty::OpenptFlags;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// Makes the pty (after pivot_root), sends its master, and returns the
/// slave, which `become_controlling` later turns into stdio. `console` gets
/// the slave before the master leaves: the container's init binds it over
/// its /dev/console (mounts::bind_console), an exec'd process does nothing.
pub fn setup(
    console_socket: BorrowedFd,
    size: Option<(u16, u16)>,
    console: impl FnOnce(BorrowedFd) -> Result<(), SysError>,
) -> Result<OwnedFd, SysError> {
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .sys("open", "/dev/ptmx")?;
    let fs = rustix::fs::fstatfs(&master).sys("statfs", "/dev/ptmx")?;
    if fs.f_type as i64 != DEVPTS_SUPER_MAGIC {
        return Err(SysError::new(
            "open",
            "/dev/ptmx",
            std::io::Error::other("not on devpts: mount devpts at /dev/pts"),
        ));
    }
    rustix::pty::unlockpt(&master).sys("unlockpt", "/dev/ptmx")?;
    let slave = rustix::pty::ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )
    .sys("open", "pty slave")?;
    let name = rustix::pty::ptsname(&master, Vec::new()).sys("ptsname", "")?;
    if let Some((rows, cols)) = size {
        let ws = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&slave, ws).sys("set window size of", "pty")?;
    }
    console(slave.as_fd())?;
    send_fd(console_socket, name.as_bytes(), master.as_fd())?;
    Ok(slave)
}

/// A new session without a terminal: runc's container process is a
/// session leader with or without one (nsexec's setsid), and CRIU dumps
/// only a tree whose sessions' leaders are inside it.
pub fn new_session() -> Result<(), SysError> {
    rustix::process::setsid().sys("setsid", "")?;
    Ok(())
}

/// A new session whose controlling terminal is the slave, which becomes
/// stdin, stdout and stderr.
pub fn become_controlling(slave: OwnedFd) -> Result<(), SysError> {
    rustix::process::setsid().sys("setsid", "")?;
    rustix::process::ioctl_tiocsctty(&slave).sys("set controlling terminal", "")?;
    rustix::stdio::dup2_stdin(&slave).sys("dup2", "pty slave")?;
    rustix::stdio::dup2_stdout(&slave).sys("dup2", "pty slave")?;
    rustix::stdio::dup2_stderr(&slave).sys("dup2", "pty slave")?;
    Ok(())
}
