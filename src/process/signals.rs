//! `run` in the foreground: every signal berth receives goes to the
//! container process, until it exits; berth then exits as it did. One
//! blocking poll on a signalfd and the process's pidfd, no handler, no
//! thread.

use crate::error::{SysContext, SysError};
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, WaitOptions};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Blocks the signals to forward; call before the container process can
/// exit, so none is lost. The child unblocks them before exec.
pub fn block_forwarded() -> Result<OwnedFd, SysError> {
    // SAFETY: plain sigset manipulation on a zeroed set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for s in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGABRT] {
            libc::sigdelset(&mut set, s);
        }
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) < 0 {
            return Err(std::io::Error::last_os_error()).sys("block", "signals");
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).sys("signalfd", "");
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Forwards signals to `pid` until it exits, and returns berth's exit
/// status: the process's, or 128+N when signal N killed it.
pub fn forward_until_exit(sigfd: &OwnedFd, pidfd: &OwnedFd, pid: i32) -> Result<i32, SysError> {
    loop {
        let mut fds = [PollFd::new(pidfd, PollFlags::IN), PollFd::new(sigfd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, None) {
            Err(rustix::io::Errno::INTR) => continue,
            r => {
                r.sys("poll", "container process")?;
            }
        }
        let exited = !fds[0].revents().is_empty();
        let signalled = !fds[1].revents().is_empty();
        if signalled {
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            // SAFETY: reading one siginfo into a buffer of its size.
            let n = unsafe { libc::read(sigfd.as_raw_fd(), &mut info as *mut _ as *mut libc::c_void, size_of::<libc::signalfd_siginfo>()) };
            if n == size_of::<libc::signalfd_siginfo>() as isize && info.ssi_signo != libc::SIGCHLD as u32 {
                // SAFETY: pidfd_send_signal with a valid pidfd and no siginfo.
                unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), info.ssi_signo as i32, std::ptr::null::<u8>(), 0) };
            }
        }
        if exited {
            let status = rustix::process::waitpid(Pid::from_raw(pid), WaitOptions::empty()).sys("wait for", pid)?;
            return Ok(match status {
                Some((_, st)) => match (st.exit_status(), st.terminating_signal()) {
                    (Some(c), _) => c,
                    (_, Some(s)) => 128 + s,
                    _ => 1,
                },
                None => 1,
            });
        }
    }
}
