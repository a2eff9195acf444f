//! A FUSE filesystem whose daemon takes a lookup and never answers it: a
//! process that looks a name up in it sleeps in the kernel until the
//! connection is aborted, and once signalled (a freeze, a SIGKILL) in
//! uninterruptible sleep, which neither the freezer nor SIGKILL can end.
//! The daemon is a thread of the test speaking the protocol on /dev/fuse
//! (linux/fuse.h): INIT and GETATTR of the root are answered, LOOKUP is
//! held, the rest refused. Dropping it aborts the connection and
//! unmounts.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

pub struct StalledFuse {
    pub mountpoint: PathBuf,
    /// The pid whose lookup is held, sent once there is one.
    held: mpsc::Receiver<u32>,
}

const LOOKUP: u32 = 1;
const GETATTR: u32 = 3;
const INIT: u32 = 26;

impl StalledFuse {
    /// Mounts it at `mountpoint` (made if missing); None where the host has
    /// no FUSE.
    pub fn mount(mountpoint: &Path) -> Option<StalledFuse> {
        std::fs::create_dir_all(mountpoint).ok()?;
        let dev = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .ok()?;
        let opts = format!(
            "fd={},rootmode=40000,user_id=0,group_id=0,allow_other",
            dev.as_raw_fd()
        );
        let target = std::ffi::CString::new(mountpoint.as_os_str().as_encoded_bytes()).unwrap();
        let opts = std::ffi::CString::new(opts).unwrap();
        // SAFETY: valid C strings; a fresh mount of the test's own.
        let r = unsafe {
            libc::mount(
                c"berth-test-stall".as_ptr(),
                target.as_ptr(),
                c"fuse".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                opts.as_ptr().cast(),
            )
        };
        if r != 0 {
            return None;
        }
        // The daemon answers from now on (a stat of the mount before it
        // runs would wait for it forever).
        let (tx, held) = mpsc::channel();
        std::thread::spawn(move || serve(dev, tx));
        Some(StalledFuse {
            mountpoint: mountpoint.to_path_buf(),
            held,
        })
    }

    /// The pid of the process whose lookup the daemon holds, once there is
    /// one (within `limit`).
    pub fn held(&self, limit: std::time::Duration) -> Option<u32> {
        self.held.recv_timeout(limit).ok()
    }

    /// Ends every request with an error, so the held process goes on: a
    /// forced unmount aborts the connection (fusectl, the other way, is not
    /// mounted on every host), then the mount is detached.
    pub fn abort(&self) {
        let target =
            std::ffi::CString::new(self.mountpoint.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string; the mount is the test's own.
        unsafe {
            libc::umount2(target.as_ptr(), libc::MNT_FORCE);
            libc::umount2(target.as_ptr(), libc::MNT_DETACH);
        }
    }
}

impl Drop for StalledFuse {
    fn drop(&mut self) {
        self.abort();
    }
}

/// The daemon: answers until the connection is aborted (read fails).
fn serve(mut dev: std::fs::File, held: mpsc::Sender<u32>) {
    let mut buf = vec![0u8; 1 << 17];
    // The held requests' buffers are simply never answered.
    while let Ok(n) = dev.read(&mut buf) {
        let req = &buf[..n];
        let u32_at = |o: usize| u32::from_ne_bytes(req[o..o + 4].try_into().unwrap());
        let (opcode, unique, nodeid) = (
            u32_at(4),
            u64::from_ne_bytes(req[8..16].try_into().unwrap()),
            u64::from_ne_bytes(req[16..24].try_into().unwrap()),
        );
        let body = match opcode {
            INIT => Ok(init_out(u32_at(40 + 8))),
            GETATTR if nodeid == 1 => Ok(root_attr()),
            LOOKUP => {
                let _ = held.send(u32_at(32));
                continue;
            }
            // FORGET and INTERRUPT take no answer.
            2 | 36 => continue,
            _ => Err(libc::ENOSYS),
        };
        let (error, body) = match body {
            Ok(b) => (0i32, b),
            Err(e) => (-e, Vec::new()),
        };
        let mut out = Vec::with_capacity(16 + body.len());
        out.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&error.to_ne_bytes());
        out.extend_from_slice(&unique.to_ne_bytes());
        out.extend_from_slice(&body);
        if dev.write_all(&out).is_err() {
            break;
        }
    }
}

/// fuse_init_out: protocol 7.31, no flags.
fn init_out(max_readahead: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [7u32, 31, max_readahead, 0] {
        b.extend_from_slice(&v.to_ne_bytes());
    }
    b.extend_from_slice(&0u16.to_ne_bytes()); // max_background
    b.extend_from_slice(&0u16.to_ne_bytes()); // congestion_threshold
    b.extend_from_slice(&4096u32.to_ne_bytes()); // max_write
    b.extend_from_slice(&1u32.to_ne_bytes()); // time_gran
    b.resize(64, 0);
    b
}

/// fuse_attr_out of the root: a directory, 0755, root's.
fn root_attr() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&1u64.to_ne_bytes()); // attr_valid
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    for v in [1u64, 0, 0, 0, 0, 0] {
        b.extend_from_slice(&v.to_ne_bytes()); // ino size blocks atime mtime ctime
    }
    for v in [0u32, 0, 0, 0o040755, 2, 0, 0, 0, 4096, 0] {
        b.extend_from_slice(&v.to_ne_bytes()); // nsecs mode nlink uid gid rdev blksize flags
    }
    b
}
