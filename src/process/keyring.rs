//! The container's own session keyring (runc's default; --no-new-keyring
//! keeps berth's): keys the host's session holds stay out of the container.

use crate::error::{SysContext, SysError};
use crate::syscall;
use std::ffi::CString;

/// Joins a new session keyring named after the container, and lets the
/// user who owns it view, read, write and search it (as runc does).
pub fn join_new(name: &str) -> Result<(), SysError> {
    let cname = CString::new(name).expect("container ids hold no NUL");
    let serial = match syscall::keyctl_join_session_keyring(&cname) {
        Ok(serial) => serial,
        // No keyrings in this kernel, or a seccomp filter around berth
        // hides them: there is nothing to isolate from, as runc reasons.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {
            return Ok(());
        }
        Err(e) => return Err(e).sys("join session keyring", name),
    };
    let mut buf = [0u8; 256];
    let n = syscall::keyctl_describe(serial, &mut buf).sys("describe session keyring", name)?;
    // "type;uid;gid;perm;description": perm is hex.
    let text = String::from_utf8_lossy(&buf[..n.min(buf.len())]).to_string();
    let perm = text
        .split(';')
        .nth(3)
        .and_then(|p| u32::from_str_radix(p, 16).ok())
        .unwrap_or(0x3f1b_0000);
    syscall::keyctl_setperm(serial, perm | 0x080f_0000)
        .sys("set permissions of session keyring", name)
}
