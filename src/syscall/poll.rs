//! Bounded waits on fds: every wait of berth's that blocks in poll(2)
//! goes through here, so EINTR and the time left are handled once.

use std::io;

/// poll(2) until one of `fds` is ready or `deadline` passes (None: no
/// deadline). A signal's EINTR polls again for the time left. Returns how
/// many fds are ready: 0 only once the deadline has passed.
pub fn poll_until(
    fds: &mut [rustix::event::PollFd],
    deadline: Option<std::time::Instant>,
) -> io::Result<usize> {
    loop {
        let timeout = deadline.map(|d| {
            let left = d.saturating_duration_since(std::time::Instant::now());
            rustix::event::Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: left.subsec_nanos() as i64,
            }
        });
        match rustix::event::poll(fds, timeout.as_ref()) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}
