//! Where the container's cgroup lives: linux.cgroupsPath if absolute,
//! under berth's parent if relative, /berth/ID if absent; for a rootless
//! berth on cgroup v2, a relative or absent path is beside the caller's own
//! cgroup instead (`beside_own`).

use crate::config::ConfigError;

pub const DEFAULT_PARENT: &str = "/berth";

pub fn cgroup_path(configured: Option<&str>, id: &str) -> Result<String, ConfigError> {
    match relative(configured, id)? {
        Some(rel) => Ok(format!("{DEFAULT_PARENT}/{rel}")),
        None => clean(configured.unwrap_or_default()),
    }
}

/// The path as runc 1.1.5's cgroup v2 manager places it: an absolute one
/// from the root; a relative one, or the container's id when there is
/// none, in the parent of `own` (the caller's cgroup, from
/// /proc/self/cgroup). Beside the caller rather than under it: a cgroup
/// with processes of its own (the caller's) cannot give its children
/// controllers, while a delegated parent (systemd's user@UID.service
/// around the user's session) can.
pub fn beside_own(configured: Option<&str>, id: &str, own: &str) -> Result<String, ConfigError> {
    let Some(rel) = relative(configured, id)? else {
        return clean(configured.unwrap_or_default());
    };
    let own = own.trim_end_matches('/');
    let parent = own.rsplit_once('/').map_or("", |(p, _)| p);
    Ok(format!("{parent}/{rel}"))
}

/// The path relative to a parent (the container's id when none is
/// configured), or None for an absolute one.
fn relative(configured: Option<&str>, id: &str) -> Result<Option<String>, ConfigError> {
    match configured.filter(|p| !p.is_empty()) {
        None => Ok(Some(id.to_string())),
        Some(p) if p.starts_with('/') => Ok(None),
        Some(p) => Ok(Some(clean(p)?.trim_start_matches('/').to_string())),
    }
}

/// A configured path checked and made absolute ("a//b/" is "/a/b").
fn clean(p: &str) -> Result<String, ConfigError> {
    if p.contains(':') && !p.starts_with('/') {
        return Err(ConfigError::invalid(
            "linux.cgroupsPath",
            format!("\"{p}\" is the systemd form slice:prefix:name, which needs --systemd-cgroup"),
        ));
    }
    if p.split('/').any(|c| c == "..") {
        return Err(ConfigError::invalid(
            "linux.cgroupsPath",
            format!("\"{p}\" must not contain \"..\""),
        ));
    }
    let clean: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if clean.is_empty() {
        return Err(ConfigError::invalid(
            "linux.cgroupsPath",
            format!("\"{p}\" names the root cgroup"),
        ));
    }
    Ok(format!("/{}", clean.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(cgroup_path(None, "c1").unwrap(), "/berth/c1");
        assert_eq!(cgroup_path(Some("/a/b/"), "c1").unwrap(), "/a/b");
        assert_eq!(cgroup_path(Some("rel/x"), "c1").unwrap(), "/berth/rel/x");
        assert!(cgroup_path(Some("/a/../b"), "c1").is_err());
        assert!(
            cgroup_path(Some("system.slice:berth:c1"), "c1")
                .unwrap_err()
                .to_string()
                .contains("--systemd-cgroup")
        );
        assert!(cgroup_path(Some("/"), "c1").is_err());
    }

    #[test]
    fn beside_the_callers_cgroup() {
        let own = "/user.slice/user-1000.slice/user@1000.service/app.slice/shell.scope";
        let parent = "/user.slice/user-1000.slice/user@1000.service/app.slice";
        assert_eq!(beside_own(None, "c1", own).unwrap(), format!("{parent}/c1"));
        assert_eq!(
            beside_own(Some("x//y/"), "c1", own).unwrap(),
            format!("{parent}/x/y")
        );
        assert_eq!(beside_own(Some("/abs/c"), "c1", own).unwrap(), "/abs/c");
        assert_eq!(beside_own(None, "c1", "/").unwrap(), "/c1");
        assert_eq!(beside_own(None, "c1", "/top").unwrap(), "/c1");
        assert!(beside_own(Some("a/../b"), "c1", own).is_err());
        assert!(beside_own(Some("s:p:n"), "c1", own).is_err());
    }
}
