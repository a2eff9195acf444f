//! process.user: the uid, gids and umask, and HOME from /etc/passwd.

use crate::error::{SysContext, SysError};
use crate::syscall::Syscall;

#[derive(Debug, Clone, Default)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
}

/// Sets supplementary groups, then gid, then uid (the last drops root).
pub fn set_user(sys: &impl Syscall, u: &User) -> Result<(), SysError> {
    // setgroups is refused in a user namespace whose setgroups file says
    // "deny"; there, only an empty list is wanted anyway.
    match sys.set_groups(&u.additional_gids) {
        Err(rustix::io::Errno::PERM) if u.additional_gids.is_empty() => {}
        r => r.sys("setgroups", format!("{:?}", u.additional_gids))?,
    }
    sys.set_gid(u.gid).sys("setgid", u.gid)?;
    sys.set_uid(u.uid).sys("setuid", u.uid)?;
    Ok(())
}

/// runc's HOME for a process whose environment has none: the home of its
/// uid in the container's /etc/passwd (read once the root is the
/// container's), or "/".
pub fn home(uid: u32) -> String {
    home_in(&read_passwd().unwrap_or_default(), uid)
}

/// The container's /etc/passwd, which its image controls: only a regular
/// file (a fifo would block, /dev/zero never end), and at most 1 MiB.
fn read_passwd() -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open("/etc/passwd")
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    f.take(1 << 20).read_to_string(&mut text).ok()?;
    Some(text)
}

fn home_in(passwd: &str, uid: u32) -> String {
    passwd_field(passwd, uid, 5)
        .filter(|h| !h.is_empty())
        .unwrap_or("/")
        .to_string()
}

/// Field `n` (0 the name, 5 the home) of `uid`'s entry in the text of a
/// passwd file; None without an entry of that many fields.
pub fn passwd_field(passwd: &str, uid: u32, n: usize) -> Option<&str> {
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > n.max(2) && f[2].parse() == Ok(uid))
        .map(|f| f[n])
}

#[cfg(test)]
mod home_tests {
    #[test]
    fn home_from_passwd() {
        let p = "root:x:0:0:root:/root:/bin/sh\nbad line\nu:x:1000:1000::/home/u:/bin/sh\nv:x:1001:1:::\n";
        assert_eq!(super::home_in(p, 0), "/root");
        assert_eq!(super::home_in(p, 1000), "/home/u");
        assert_eq!(super::home_in(p, 1001), "/");
        assert_eq!(super::home_in(p, 7), "/");
    }
}
