//! A rootless berth's systemd: the user's own (`systemd --user`, the
//! manager user@UID.service runs), which owns the cgroup subtree systemd
//! delegates to the user. The system's systemd would refuse an ordinary
//! user's units; the user's makes them in that subtree. As runc 1.1.5
//! finds it: the bus at $DBUS_SESSION_BUS_ADDRESS, else
//! $XDG_RUNTIME_DIR/bus; where there is no bus (no dbus-user-session), the
//! manager's private socket beside it, which systemctl --user also uses.

use super::dbus::{Conn, DbusError, Value};
use super::{CALL_TIMEOUT, DEST, MANAGER, PATH};

/// Where the user's systemd listens, as whom berth speaks to it, and where
/// its units' cgroups are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserManager {
    /// The user's bus, or the manager's private socket.
    pub socket: String,
    /// Whether `socket` is a bus (Hello, AddMatch) or the private socket.
    pub bus: bool,
    /// The uid of AUTH EXTERNAL: the one the kernel shows the other end,
    /// the host's uid behind berth's own in a user namespace.
    pub uid: u32,
    /// The manager's own cgroup (its ControlGroup), e.g.
    /// /user.slice/user-1001.slice/user@1001.service.
    pub cgroup: String,
}

/// The user's systemd for a rootless berth (`rootless`: --rootless or its
/// auto), as runc decides: None for a berth that is root on the host (uid
/// 0 in a user namespace that maps it to the host's root has the system's
/// systemd, as runc's OwnerUID 0).
pub fn find(rootless: bool) -> Result<Option<UserManager>, DbusError> {
    let uid = host_uid(
        rustix::process::geteuid().as_raw(),
        &std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default(),
    );
    if !rootless || uid == 0 {
        return Ok(None);
    }
    let (socket, bus) = socket(uid)?;
    let mut m = UserManager {
        socket,
        bus,
        uid,
        cgroup: String::new(),
    };
    let mut c = connect(&m)?;
    let reply = c.call(
        DEST,
        PATH,
        "org.freedesktop.DBus.Properties",
        "Get",
        &[
            Value::Str(MANAGER.into()),
            Value::Str("ControlGroup".into()),
        ],
        CALL_TIMEOUT,
    )?;
    m.cgroup = match reply.first() {
        Some(Value::Variant(v)) => match v.as_ref() {
            Value::Str(s) if s.starts_with('/') => s.clone(),
            _ => String::new(),
        },
        _ => String::new(),
    };
    if m.cgroup.is_empty() {
        return Err(DbusError::Protocol(format!(
            "the user's systemd at {} names no cgroup of its own (its ControlGroup): is it the manager of user@{uid}.service?",
            m.socket
        )));
    }
    Ok(Some(m))
}

/// A connection to the user's systemd; a socket not there (or refusing)
/// is an error saying that the user's manager is not running.
pub fn connect(m: &UserManager) -> Result<Conn, DbusError> {
    super::open(&m.socket, m.bus, m.uid).map_err(|e| match e {
        DbusError::Io("connect", e) => DbusError::NoUserManager {
            socket: m.socket.clone(),
            uid: m.uid,
            why: crate::error::errno_text(&e),
        },
        e => e,
    })
}

/// The socket to use and whether it is a bus: $DBUS_SESSION_BUS_ADDRESS's
/// (a unix:path= one), else $XDG_RUNTIME_DIR/bus, else the manager's
/// $XDG_RUNTIME_DIR/systemd/private; XDG_RUNTIME_DIR is /run/user/UID
/// where unset, as pam_systemd sets it.
fn socket(uid: u32) -> Result<(String, bool), DbusError> {
    if let Some(addr) = std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty())
    {
        return unix_path(&addr).map(|p| (p, true)).ok_or_else(|| {
            DbusError::Protocol(format!(
                "DBUS_SESSION_BUS_ADDRESS={addr}: berth connects to a unix:path= address only"
            ))
        });
    }
    let dir = std::env::var("XDG_RUNTIME_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| format!("/run/user/{uid}"));
    let bus = format!("{dir}/bus");
    let private = format!("{dir}/systemd/private");
    if std::path::Path::new(&bus).exists() {
        Ok((bus, true))
    } else if std::path::Path::new(&private).exists() {
        Ok((private, false))
    } else {
        Err(DbusError::NoUserManager {
            socket: format!("{bus} (nor {private})"),
            uid,
            why: "no such socket".into(),
        })
    }
}

/// The path of the first unix:path= address of a D-Bus address list,
/// its %XX escapes undone.
fn unix_path(addr: &str) -> Option<String> {
    let path = addr
        .split(';')
        .find_map(|a| a.strip_prefix("unix:"))?
        .split(',')
        .find_map(|kv| kv.strip_prefix("path="))?;
    let b = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The uid the kernel shows for `euid` outside berth's user namespace,
/// from its uid_map ("inside outside count" lines); `euid` itself in the
/// initial namespace (whose map is the identity) or without a map.
fn host_uid(euid: u32, uid_map: &str) -> u32 {
    uid_map
        .lines()
        .find_map(|l| {
            let f: Vec<u32> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            match f[..] {
                [inside, outside, count] if euid >= inside && euid - inside < count => {
                    Some(outside + (euid - inside))
                }
                _ => None,
            }
        })
        .unwrap_or(euid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_behind_a_user_namespace() {
        assert_eq!(host_uid(0, "         0          0 4294967295\n"), 0);
        assert_eq!(host_uid(1001, "         0          0 4294967295\n"), 1001);
        assert_eq!(host_uid(0, "0 1001 1\n1 100000 65536\n"), 1001);
        assert_eq!(host_uid(5, "0 1001 1\n1 100000 65536\n"), 100004);
        assert_eq!(host_uid(7, ""), 7);
    }

    #[test]
    fn bus_addresses() {
        assert_eq!(
            unix_path("unix:path=/run/user/1001/bus").as_deref(),
            Some("/run/user/1001/bus")
        );
        assert_eq!(
            unix_path("unix:guid=ab,path=/tmp/a%2cb%20c").as_deref(),
            Some("/tmp/a,b c")
        );
        assert_eq!(unix_path("tcp:host=x;unix:path=/b").as_deref(), Some("/b"));
        assert_eq!(unix_path("unix:abstract=/tmp/dbus-x"), None);
        assert_eq!(unix_path("unix:path=/a%zz"), None);
        assert_eq!(unix_path("unix:path=/a%2"), None);
    }
}
