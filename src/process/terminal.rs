//! process.terminal with --console-socket: a pty from the container's own
//! devpts, the slave as the process's controlling terminal, stdio and
//! /dev/console, the master sent to the socket with SCM_RIGHTS as runc
//! sends it (containerd and conmon receive it the same way).

use crate::error::{SysContext, SysError};
use crate::mounts::open_in_root;
use rustix::fs::{FileType, OFlags, ResolveFlags};
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use rustix::pty::OpenptFlags;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// Makes the pty (after pivot_root), sends its master, and returns the
/// slave, which `become_controlling` later turns into stdio. The slave is
/// the container's /dev/console too when `console` (create, not exec).
pub fn setup(
    console_socket: BorrowedFd,
    root: BorrowedFd,
    size: Option<(u16, u16)>,
    console: bool,
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
    if console {
        bind_console(root, slave.as_fd())?;
    }
    send_fd(console_socket, name.as_bytes(), master.as_fd())?;
    Ok(slave)
}

/// /dev/console in the container is the pty slave. The target is made by
/// us in /dev and checked to be a plain file, never followed as a link
/// (CVE-2025-52565).
fn bind_console(root: BorrowedFd, slave: BorrowedFd) -> Result<(), SysError> {
    let path = Path::new("/dev/console");
    let target = match open_in_root(root, path, OFlags::NOFOLLOW) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => {
            let dev =
                open_in_root(root, Path::new("/dev"), OFlags::DIRECTORY).sys("open", "/dev")?;
            let f = rustix::fs::openat(
                &dev,
                "console",
                OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .sys("create", path.display())?;
            drop(f);
            rustix::fs::openat2(
                &dev,
                "console",
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
            )
            .sys("open", path.display())?
        }
        Err(e) => return Err(SysError::new("open", path.display(), e)),
    };
    let st = rustix::fs::fstat(&target).sys("stat", path.display())?;
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind != FileType::RegularFile && kind != FileType::CharacterDevice {
        return Err(SysError::new(
            "bind pty to",
            path.display(),
            std::io::Error::other("not a regular file"),
        ));
    }
    let tree = crate::mounts::clone_fd(slave, false)?;
    crate::mounts::attach(tree.as_fd(), target.as_fd())
}

/// Sends one fd with a name as data, the way runc's utils.SendFd does.
pub fn send_fd(socket: BorrowedFd, name: &[u8], fd: BorrowedFd) -> Result<(), SysError> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        socket,
        &[IoSlice::new(name)],
        &mut control,
        SendFlags::empty(),
    )
    .sys("send", "pty master to the console socket")?;
    Ok(())
}

/// Receives the fd `send_fd` sent (berth relaying a terminal itself).
pub fn recv_fd(socket: BorrowedFd) -> Result<OwnedFd, SysError> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 256];
    rustix::net::recvmsg(
        socket,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .sys("receive", "pty master")?;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg
            && let Some(fd) = fds.next()
        {
            return Ok(fd);
        }
    }
    Err(SysError::new(
        "receive",
        "pty master",
        std::io::Error::other("no fd in the message"),
    ))
}

/// A new session whose controlling terminal is the slave, which becomes
/// stdin, stdout and stderr.
pub fn become_controlling(slave: OwnedFd) -> Result<(), SysError> {
    rustix::process::setsid().sys("setsid", "")?;
    rustix::process::ioctl_tiocsctty(&slave).sys("set controlling terminal", "")?;
    for target in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, which this process owns.
        let r = unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&slave), target) };
        if r < 0 {
            return Err(SysError::new(
                "dup2",
                "pty slave",
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}
