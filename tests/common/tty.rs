//! Terminals and fd passing for tests: a pty to run berth on, as a user's
//! terminal would be, and the receiving end of SCM_RIGHTS.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command};

pub fn openpty(rows: u16, cols: u16) -> (File, File) {
    let (mut m, mut s) = (0, 0);
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let r = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(r, 0);
    unsafe { (File::from_raw_fd(m), File::from_raw_fd(s)) }
}

/// Starts `cmd` with the pty slave as its controlling terminal and stdio.
pub fn spawn_on(mut cmd: Command, slave: File) -> Child {
    let fd = slave.as_raw_fd();
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            libc::setsid();
            libc::ioctl(fd, libc::TIOCSCTTY, 0);
            for target in 0..3 {
                libc::dup2(fd, target);
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    drop(slave);
    child
}

/// Everything the other side writes until it closes (EIO on a master).
pub fn read_all(master: &mut File) -> String {
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    seen
}

/// One message and the fd that came with it.
pub fn recv_fd(conn: &std::os::unix::net::UnixStream) -> (String, OwnedFd) {
    let mut data = vec![0u8; 65536];
    let mut cmsg = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr() as *mut _,
        iov_len: data.len(),
    };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr() as *mut _;
    msg.msg_controllen = cmsg.len();
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, 0) };
    assert!(n > 0);
    let c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    assert!(!c.is_null(), "an fd came with the message");
    let fd = unsafe { *(libc::CMSG_DATA(c) as *const i32) };
    (
        String::from_utf8_lossy(&data[..n as usize]).into_owned(),
        unsafe { OwnedFd::from_raw_fd(fd) },
    )
}
