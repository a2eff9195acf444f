//! process.user and the user namespace's id mappings.

use crate::error::{SysContext, SysError};
use oci_spec::runtime::LinuxIdMapping;
use rustix::thread::{Gid, Uid};

#[derive(Debug, Clone, Default)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
}

/// Sets supplementary groups, then gid, then uid (the last drops root).
pub fn set_user(u: &User) -> Result<(), SysError> {
    let groups: Vec<Gid> = u.additional_gids.iter().map(|g| Gid::from_raw(*g)).collect();
    // setgroups is refused in a user namespace whose setgroups file says
    // "deny"; there, only an empty list is wanted anyway.
    match rustix::thread::set_thread_groups(&groups) {
        Err(rustix::io::Errno::PERM) if groups.is_empty() => {}
        r => r.sys("setgroups", format!("{:?}", u.additional_gids))?,
    }
    let gid = Gid::from_raw(u.gid);
    rustix::thread::set_thread_res_gid(gid, gid, gid).sys("setgid", u.gid)?;
    let uid = Uid::from_raw(u.uid);
    rustix::thread::set_thread_res_uid(uid, uid, uid).sys("setuid", u.uid)?;
    Ok(())
}

/// The home directory of `uid` in the container's /etc/passwd (read once
/// the root is the container's), "/" without an entry, as runc finds it.
pub fn home(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse() == Ok(uid))
        .map(|f| f[5].to_string())
        .unwrap_or_else(|| "/".to_string())
}

/// The text of a uid_map or gid_map file.
pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect()
}

/// Writes the mappings of the user namespace `pid` is in, from outside it.
pub fn write_id_maps(pid: i32, uid_map: &str, gid_map: &str) -> Result<(), SysError> {
    let f = format!("/proc/{pid}/uid_map");
    std::fs::write(&f, uid_map).sys("write", &f)?;
    let f = format!("/proc/{pid}/gid_map");
    std::fs::write(&f, gid_map).sys("write", &f)
}
