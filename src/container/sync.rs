//! The one channel between berth and the container process it forked: a
//! SOCK_SEQPACKET socketpair (one message per packet), and every message
//! either side sends, here in one place. In order:
//!
//! ```text
//! parent                          child
//!   Go (maps, oom set) ->
//!   Placed (in its cgroup) ->       whenever the parent is done; the child
//!                                   waits for it before a late cgroup ns or
//!                                   second fork, RootfsReady, and Ready
//!                              <- MapsPlease (after unshare(USER))  -> MapsDone
//!                              <- SourcesPlease (in its namespaces, in a user
//!                                 namespace with bind mounts)
//!   Source(i) per bind, with its fd if berth could open it ->
//!                              <- Pid (after a second fork)
//!                              <- RootfsReady (mounts done, before pivot_root;
//!                                 only when there are hooks or netDevices,
//!                                 see init.rs)
//!   HooksDone(host pid) ->          (netDevices moved, prestart, createRuntime ran)
//!                              <- SeccompFd + the listener fd (SCM_RIGHTS), for SCMP_ACT_NOTIFY
//!                              <- Ready (about to wait for start)
//!   Start (run only) ->
//!                              <- Error(failure, as JSON) at any point; EOF at exec
//! ```

use super::failure::Failure;
use crate::error::{SysContext, SysError};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use std::os::fd::OwnedFd;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Go,
    MapsPlease,
    MapsDone,
    Pid(i32),
    RootfsReady,
    HooksDone(i32),
    Ready,
    Start,
    Error(Failure),
    /// Carries the seccomp notify fd; `Channel::take_fd` hands it out.
    SeccompFd,
    Placed,
    /// The container process is in its namespaces: berth opens its bind
    /// sources (mounts::open_sources).
    SourcesPlease,
    /// The source of the bind at position i of the mount plan; its fd, if
    /// berth opened it, comes with the message (`Channel::take_fd`).
    Source(i32),
}

pub struct Channel(pub OwnedFd, std::cell::RefCell<Option<OwnedFd>>);

pub fn pair() -> Result<(Channel, Channel), SysError> {
    let (a, b) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .sys("socketpair", "")?;
    Ok((
        Channel(a, Default::default()),
        Channel(b, Default::default()),
    ))
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Error(f) => {
                let mut v = vec![9];
                v.extend(f.to_json());
                v
            }
            m => {
                let mut buf = [0u8; 5];
                let n = m.encode_small(&mut buf).expect("not an Error");
                buf[..n].to_vec()
            }
        }
    }

    /// Every message but Error, encoded in place: its length in `buf`.
    fn encode_small(&self, buf: &mut [u8; 5]) -> Option<usize> {
        let (tag, int) = match self {
            Msg::Go => (1, None),
            Msg::MapsPlease => (2, None),
            Msg::MapsDone => (3, None),
            Msg::Pid(p) => (4, Some(*p)),
            Msg::RootfsReady => (5, None),
            Msg::HooksDone(p) => (6, Some(*p)),
            Msg::Ready => (7, None),
            Msg::Start => (8, None),
            Msg::Error(_) => return None,
            Msg::SeccompFd => (10, None),
            Msg::Placed => (11, None),
            Msg::SourcesPlease => (12, None),
            Msg::Source(i) => (13, Some(*i)),
        };
        buf[0] = tag;
        Some(match int {
            Some(i) => {
                buf[1..5].copy_from_slice(&i.to_le_bytes());
                5
            }
            None => 1,
        })
    }

    fn decode(b: &[u8]) -> Option<Msg> {
        let int = || {
            b.get(1..5)
                .map(|s| i32::from_le_bytes(s.try_into().expect("4 bytes")))
        };
        Some(match *b.first()? {
            1 => Msg::Go,
            2 => Msg::MapsPlease,
            3 => Msg::MapsDone,
            4 => Msg::Pid(int()?),
            5 => Msg::RootfsReady,
            6 => Msg::HooksDone(int()?),
            7 => Msg::Ready,
            8 => Msg::Start,
            9 => Msg::Error(Failure::from_json(&b[1..])?),
            10 => Msg::SeccompFd,
            11 => Msg::Placed,
            12 => Msg::SourcesPlease,
            13 => Msg::Source(int()?),
            _ => return None,
        })
    }
}

const MAX: usize = 16384;

impl Channel {
    pub fn send(&self, m: &Msg) -> Result<(), SysError> {
        rustix::net::send(&self.0, &m.encode(), SendFlags::NOSIGNAL)
            .sys("send", "to the container process")?;
        Ok(())
    }

    /// Sends a message (not an Error) with an fd attached, allocating
    /// nothing: SeccompFd goes out right after a seccomp filter is in, where
    /// any system call but this sendmsg (brk or mmap for a heap page) could
    /// be one the filter holds for an agent that has no listener yet.
    pub fn send_fd(&self, m: &Msg, fd: std::os::fd::BorrowedFd) -> Result<(), SysError> {
        let mut buf = [0u8; 5];
        let n = m
            .encode_small(&mut buf)
            .expect("an fd never goes with an Error");
        crate::syscall::send_fd(std::os::fd::AsFd::as_fd(&self.0), &buf[..n], fd)
    }

    /// The fd that came with the last message, if one did.
    pub fn take_fd(&self) -> Option<OwnedFd> {
        self.1.borrow_mut().take()
    }

    /// The next message, or None when the other side is gone.
    /// Whether a message (or EOF) is there to read by `deadline`.
    pub fn readable_by(&self, deadline: Option<std::time::Instant>) -> Result<bool, SysError> {
        let mut p = [rustix::event::PollFd::new(
            &self.0,
            rustix::event::PollFlags::IN,
        )];
        let n = crate::syscall::poll_until(&mut p, deadline).sys("poll", "the sync channel")?;
        Ok(n > 0)
    }

    pub fn recv(&self) -> Result<Option<Msg>, SysError> {
        use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage};
        let mut buf = vec![0u8; MAX];
        loop {
            let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let r = rustix::net::recvmsg(
                &self.0,
                &mut [std::io::IoSliceMut::new(&mut buf)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            );
            for msg in control.drain() {
                if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
                    *self.1.borrow_mut() = fds.next();
                }
            }
            match r.map(|m| m.bytes) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    return Msg::decode(&buf[..n.min(MAX)]).map(Some).ok_or_else(|| {
                        SysError::new(
                            "decode",
                            "message",
                            std::io::Error::other("unknown message"),
                        )
                    });
                }
                Err(rustix::io::Errno::INTR) => continue,
                // The peer closed with a message of ours unread. The error
                // comes before what it sent first (an Error, say), and is
                // cleared by this read: read on, to its messages, then EOF.
                Err(rustix::io::Errno::CONNRESET) => continue,
                Err(e) => return Err(SysError::new("recv", "from the container process", e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::failure::Stage;
    use super::*;

    #[test]
    fn round_trip() {
        let (a, b) = pair().unwrap();
        for m in [
            Msg::Go,
            Msg::Pid(42),
            Msg::HooksDone(-1),
            Msg::Error(Failure::plain(Stage::Mounts, "bad \u{e9}")),
            Msg::Ready,
            Msg::SourcesPlease,
            Msg::Source(7),
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }

    #[test]
    fn a_failed_process_error_outlives_its_unread_messages() {
        // The container process fails, and exits with Placed unread: the
        // kernel resets the connection, and its Error must still come.
        let (parent, child) = pair().unwrap();
        parent.send(&Msg::Placed).unwrap();
        let failed = Failure::plain(Stage::Mounts, "mount failed");
        child.send(&Msg::Error(failed.clone())).unwrap();
        drop(child);
        assert_eq!(parent.recv().unwrap(), Some(Msg::Error(failed)));
        assert_eq!(parent.recv().unwrap(), None);
    }
}
