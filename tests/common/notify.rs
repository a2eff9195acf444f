//! A seccomp notify agent for tests: it receives the listener fd berth
//! sends to listenerPath, and answers each intercepted syscall with
//! "success, 0" without running it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
#[derive(Default)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const SECCOMP_IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;

pub struct Agent {
    /// The state JSON berth sent with the fd.
    pub state: std::sync::Mutex<String>,
    /// How many syscalls were intercepted.
    pub handled: AtomicU32,
    stop: AtomicBool,
}

/// Listens at `path`; serves every connection in a thread of its own.
pub fn agent(path: &Path) -> Arc<Agent> {
    let listener = UnixListener::bind(path).unwrap();
    let a = Arc::new(Agent {
        state: Default::default(),
        handled: AtomicU32::new(0),
        stop: AtomicBool::new(false),
    });
    let a2 = a.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            if a2.stop.load(Ordering::Relaxed) {
                return;
            }
            let (json, fd) = super::tty::recv_fd(&conn);
            *a2.state.lock().unwrap() = json;
            let a3 = a2.clone();
            std::thread::spawn(move || serve(fd, &a3));
        }
    });
    a
}

fn serve(fd: OwnedFd, a: &Agent) {
    loop {
        let mut n = Notif::default();
        if unsafe { libc::ioctl(fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV, &mut n) } < 0 {
            return; // every process of the filter is gone
        }
        a.handled.fetch_add(1, Ordering::Relaxed);
        let mut r = NotifResp {
            id: n.id,
            val: 0,
            error: 0,
            flags: 0,
        };
        unsafe { libc::ioctl(fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND, &mut r) };
    }
}
