//! The container's own session keyring (runc's default; --no-new-keyring
//! keeps berth's): keys the host's session holds stay out of the container.

use crate::error::{SysContext, SysError};
use std::ffi::CString;

const KEYCTL_DESCRIBE: libc::c_long = 6;
const KEYCTL_SETPERM: libc::c_long = 5;
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;

/// Joins a new session keyring named after the container, and lets the
/// user who owns it view, read, write and search it (as runc does).
pub fn join_new(name: &str) -> Result<(), SysError> {
    let cname = CString::new(name).expect("container ids hold no NUL");
    // SAFETY: keyctl with a valid C string.
    let serial = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            cname.as_ptr(),
        )
    };
    if serial < 0 {
        let e = std::io::Error::last_os_error();
        // No keyrings in this kernel, or a seccomp filter around berth
        // hides them: there is nothing to isolate from, as runc reasons.
        if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) {
            return Ok(());
        }
        return Err(e).sys("join session keyring", name);
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer and its length are valid.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            serial,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error()).sys("describe session keyring", name);
    }
    // "type;uid;gid;perm;description": perm is hex.
    let text = String::from_utf8_lossy(&buf[..(n as usize).min(buf.len())]).to_string();
    let perm = text
        .split(';')
        .nth(3)
        .and_then(|p| u32::from_str_radix(p, 16).ok())
        .unwrap_or(0x3f1b_0000);
    // SAFETY: integer arguments only.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, serial, perm | 0x080f_0000) };
    if r < 0 {
        return Err(std::io::Error::last_os_error())
            .sys("set permissions of session keyring", name);
    }
    Ok(())
}
