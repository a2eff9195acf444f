//! `berth check` of a new user namespace: the kernel must allow one, and
//! a rootless berth can map ids other than its own only through newuidmap
//! and newgidmap, within the ranges /etc/subuid and /etc/subgid grant the
//! user (what those setuid helpers check; berth says it before they refuse).
//! And idmapped mounts: whether the source's filesystem takes an idmap.

use crate::config::Findings;
use crate::mounts::RootfsError;
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType, Spec};
use std::ops::Range;
use std::path::Path;

/// The kernel says whether a filesystem takes an idmap only when asked
/// with a user namespace: berth makes the idmapped binds as create does,
/// detached, and drops them. The namespace's process is gone before this
/// returns (mounts::prepare_idmaps), and the detached mounts with their
/// fds: nothing remains.
pub fn idmapped_mounts(spec: &Spec, bundle: &Path, l: &Linux, f: &mut Findings) {
    let wanted = spec.mounts().iter().flatten().any(|m| {
        m.options()
            .iter()
            .flatten()
            .any(|o| o == "idmap" || o == "ridmap")
    });
    if !wanted {
        return;
    }
    // A plan that does not build is the config's finding, made elsewhere.
    let Ok(mut plan) = crate::mounts::Plan::from_spec(spec, bundle, false, None) else {
        return;
    };
    let text = |m: &Option<Vec<LinuxIdMapping>>| {
        crate::config::id_map_text(m.as_deref().unwrap_or_default())
    };
    let (uid_map, gid_map) = (text(l.uid_mappings()), text(l.gid_mappings()));
    match plan.prepare_idmaps(&uid_map, &gid_map) {
        Ok(()) => {}
        Err(RootfsError::Mount { index, source, .. }) => f.error(
            "mount.idmap",
            format!("mounts[{index}]"),
            format!("cannot idmap this bind: {source}"),
        ),
        Err(e) => f.error("mount.idmap", "mounts", e.to_string()),
    }
}

pub fn user_namespace(l: &Linux, f: &mut Findings) {
    let namespaces = l.namespaces().as_deref().unwrap_or_default();
    let Some(i) = namespaces
        .iter()
        .position(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none())
    else {
        return;
    };
    if std::fs::read_to_string("/proc/sys/user/max_user_namespaces").is_ok_and(|v| v.trim() == "0")
    {
        f.error(
            "userns.disabled",
            format!("linux.namespaces[{i}]"),
            "this host allows no user namespace (/proc/sys/user/max_user_namespaces is 0)",
        );
    }
    let euid = rustix::process::geteuid().as_raw();
    if euid == 0 {
        return; // root writes any map itself
    }
    let egid = rustix::process::getegid().as_raw();
    let user = user_name(euid);
    let maps = [
        (
            "uidMappings",
            l.uid_mappings(),
            euid,
            "/etc/subuid",
            "newuidmap",
        ),
        (
            "gidMappings",
            l.gid_mappings(),
            egid,
            "/etc/subgid",
            "newgidmap",
        ),
    ];
    for (key, list, own, file, helper) in maps {
        let list = list.as_deref().unwrap_or_default();
        if list.iter().all(|m| m.size() == 1 && m.host_id() == own) {
            continue; // written directly, no helper
        }
        let granted = granted(file, &user, euid);
        for (j, m) in list.iter().enumerate() {
            if let Some(id) = first_not_granted(m, own, &granted) {
                f.error(
                    "userns.subid",
                    format!("linux.{key}[{j}].hostID"),
                    format!(
                        "host id {id} (of {}-{}) is not granted to {user} in {file}, so {helper} refuses the map",
                        m.host_id(),
                        u64::from(m.host_id()) + u64::from(m.size()) - 1
                    ),
                );
            }
        }
    }
}

/// The user's name, as /etc/subuid names users (or the uid itself).
fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|p| p.len() > 2 && p[2] == uid.to_string())
        .map_or_else(|| uid.to_string(), |p| p[0].to_string())
}

/// The id ranges `file` grants the user, by name or by uid.
fn granted(file: &str, user: &str, uid: u32) -> Vec<Range<u64>> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut p = l.trim().split(':');
            let (who, start, count) = (p.next()?, p.next()?, p.next()?);
            if who != user && who != uid.to_string() {
                return None;
            }
            let start: u64 = start.parse().ok()?;
            Some(start..start + count.parse::<u64>().ok()?)
        })
        .collect()
}

/// The first host id of `m` that is neither the user's own nor granted.
fn first_not_granted(m: &LinuxIdMapping, own: u32, granted: &[Range<u64>]) -> Option<u64> {
    let end = u64::from(m.host_id()) + u64::from(m.size());
    let mut id = u64::from(m.host_id());
    while id < end {
        if id == u64::from(own) {
            id += 1;
            continue;
        }
        // On past the range that holds id; none holds it: not granted.
        match granted.iter().find(|r| r.contains(&id)) {
            Some(r) => id = r.end,
            None => return Some(id),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(host: u32, size: u32) -> LinuxIdMapping {
        oci_spec::runtime::LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(host)
            .size(size)
            .build()
            .unwrap()
    }

    #[test]
    fn ranges_and_the_users_own_id_cover_a_map() {
        let granted = [100_000..165_536, 165_536..200_000];
        assert_eq!(first_not_granted(&map(1000, 1), 1000, &granted), None);
        assert_eq!(
            first_not_granted(&map(100_000, 100_000), 1000, &granted),
            None
        );
        assert_eq!(
            first_not_granted(&map(99_999, 2), 1000, &granted),
            Some(99_999)
        );
        assert_eq!(
            first_not_granted(&map(199_999, 2), 1000, &granted),
            Some(200_000)
        );
        assert_eq!(first_not_granted(&map(1000, 2), 1000, &[]), Some(1001));
    }
}
