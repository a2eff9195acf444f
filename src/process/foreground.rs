//! A container process in the foreground (`run`, `exec`): every signal
//! berth receives goes to it, and with a terminal berth relays it (raw
//! mode, window size, SIGWINCH), until the process exits; berth then exits
//! as it did. One blocking poll on a signalfd, the pidfd, stdin and the
//! pty master: no handler, no thread.

use crate::error::{SysContext, SysError};
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, WaitOptions};
use rustix::termios::{self, OptionalActions, Termios};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Blocks the signals to forward; call before the container process can
/// exit, so none is lost. The child unblocks them before exec.
pub fn block_forwarded() -> Result<OwnedFd, SysError> {
    let keep = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGABRT,
    ];
    crate::syscall::block_signals_into_fd(&keep).sys("block", "signals")
}

/// The terminal berth runs in, in raw mode for as long as this lives.
struct RawStdin {
    saved: Option<Termios>,
}

impl RawStdin {
    fn enter() -> RawStdin {
        let stdin = rustix::stdio::stdin();
        let saved = termios::tcgetattr(stdin).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            raw.make_raw();
            let _ = termios::tcsetattr(stdin, OptionalActions::Now, &raw);
        }
        RawStdin { saved }
    }
}

impl Drop for RawStdin {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(rustix::stdio::stdin(), OptionalActions::Now, t);
        }
    }
}

fn copy_winsize(master: BorrowedFd) {
    if let Ok(ws) = termios::tcgetwinsize(rustix::stdio::stdin()) {
        let _ = termios::tcsetwinsize(master, ws);
    }
}

/// Reads what `from` has and writes it all to `to`; false at end of file
/// or when the other side is gone (EIO from a master whose slave closed).
fn pump(from: BorrowedFd, to: BorrowedFd) -> bool {
    let mut buf = [0u8; 8192];
    match rustix::io::read(from, &mut buf) {
        Ok(0) => false,
        Ok(n) => {
            let mut done = 0;
            while done < n {
                match rustix::io::write(to, &buf[done..n]) {
                    Ok(w) => done += w,
                    Err(rustix::io::Errno::INTR) => {}
                    Err(_) => return false,
                }
            }
            true
        }
        Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => true,
        Err(_) => false,
    }
}

/// Forwards signals (and relays `master`, if any) until `pid` exits;
/// returns the process's exit status, or 128+N when signal N killed it.
pub fn wait(
    sigfd: &OwnedFd,
    pidfd: &OwnedFd,
    pid: i32,
    master: Option<OwnedFd>,
) -> Result<i32, SysError> {
    let _raw = master.as_ref().map(|m| {
        copy_winsize(m.as_fd());
        RawStdin::enter()
    });
    let stdin = rustix::stdio::stdin();
    let stdout = rustix::stdio::stdout();
    let (mut stdin_open, mut master_open) = (master.is_some(), master.is_some());
    loop {
        let on = |open: bool| match open {
            true => PollFlags::IN,
            false => PollFlags::empty(),
        };
        let mut fds = vec![
            PollFd::new(pidfd, PollFlags::IN),
            PollFd::new(sigfd, PollFlags::IN),
        ];
        if let Some(m) = &master {
            fds.push(PollFd::new(m, on(master_open)));
            fds.push(PollFd::new(&stdin, on(stdin_open)));
        }
        match rustix::event::poll(&mut fds, None) {
            Err(rustix::io::Errno::INTR) => continue,
            r => {
                r.sys("poll", "container process")?;
            }
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        if ready[1] {
            forward_signal(sigfd, pidfd, master.as_ref());
        }
        if let Some(m) = &master {
            if master_open && ready[2] {
                master_open = pump(m.as_fd(), stdout);
            }
            if stdin_open && ready[3] {
                stdin_open = pump(stdin, m.as_fd());
            }
        }
        if ready[0] {
            if let Some(m) = master.as_ref().filter(|_| master_open) {
                drain(m, stdout);
            }
            return exit_status(pid);
        }
    }
}

/// A signal berth received goes to the process; a terminal's size change
/// goes to its pty instead. SIGCHLD is berth's own.
fn forward_signal(sigfd: &OwnedFd, pidfd: &OwnedFd, master: Option<&OwnedFd>) {
    let sig = crate::syscall::read_signalfd(sigfd.as_fd()).unwrap_or(libc::SIGCHLD);
    match (master, sig) {
        (_, libc::SIGCHLD) => {}
        (Some(m), libc::SIGWINCH) => copy_winsize(m.as_fd()),
        _ => {
            let _ = crate::syscall::pidfd_send_signal(pidfd.as_fd(), sig);
        }
    }
}

/// What the program wrote last is still in the pty once it has exited:
/// copied out until nothing more is there.
fn drain(master: &OwnedFd, stdout: BorrowedFd) {
    let _ = rustix::fs::fcntl_setfl(master, rustix::fs::OFlags::NONBLOCK);
    let now = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    while pump(master.as_fd(), stdout) {
        let mut probe = [PollFd::new(master, PollFlags::IN)];
        if rustix::event::poll(&mut probe, Some(&now)).unwrap_or(0) == 0 {
            break;
        }
    }
}

/// The exited process's status as a shell gives it: 128+N for signal N.
fn exit_status(pid: i32) -> Result<i32, SysError> {
    let status =
        rustix::process::waitpid(Pid::from_raw(pid), WaitOptions::empty()).sys("wait for", pid)?;
    Ok(match status {
        Some((_, st)) => match (st.exit_status(), st.terminating_signal()) {
            (Some(c), _) => c,
            (_, Some(s)) => 128 + s,
            _ => 1,
        },
        None => 1,
    })
}
