//! linux.cgroupsPath in systemd's form, `slice:prefix:name`, and the scope
//! unit and cgroup it names.

use super::user::UserManager;
use crate::config::ConfigError;

const JSON: &str = "linux.cgroupsPath";

/// The container's scope unit and the slice it goes under.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unit {
    /// e.g. kubepods-besteffort-pod123.slice; "-.slice" is the root.
    pub slice: String,
    /// e.g. cri-containerd-ID.scope.
    pub name: String,
    /// A rootless berth's unit is the user's own systemd's; None: the
    /// system's. Recorded, so that delete and update reach the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserManager>,
}

impl Unit {
    /// The scope's cgroup, as systemd lays slices out: each `-` in a
    /// slice's name is one level (a-b.slice lives in a.slice); a user
    /// manager's units are under its own cgroup.
    pub fn cgroup_path(&self) -> String {
        let mut path = self
            .user
            .as_ref()
            .map(|u| u.cgroup.trim_end_matches('/').to_string())
            .unwrap_or_default();
        if self.slice != "-.slice" {
            let stem = self.slice.trim_end_matches(".slice");
            let mut prefix = String::new();
            for part in stem.split('-') {
                if !prefix.is_empty() {
                    prefix.push('-');
                }
                prefix.push_str(part);
                path.push('/');
                path.push_str(&prefix);
                path.push_str(".slice");
            }
        }
        format!("{path}/{}", self.name)
    }
}

/// `slice:prefix:name` (runc's form) to the unit `prefix-name.scope` under
/// `slice`, in the system's systemd or (`user`) the user's; an empty path
/// is `system.slice:berth:ID`, an empty slice system.slice, as runc's
/// defaults with berth's own prefix. In the user's systemd the default
/// slice is user.slice, as runc's rootless default.
pub fn parse(
    configured: Option<&str>,
    id: &str,
    user: Option<&UserManager>,
) -> Result<Unit, ConfigError> {
    let p = configured.unwrap_or("");
    let (slice, prefix, name) = if p.is_empty() {
        ("", "berth", id)
    } else {
        let parts: Vec<&str> = p.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(ConfigError::invalid(
                JSON,
                format!(
                    "\"{p}\" is not of the form slice:prefix:name that --systemd-cgroup takes (e.g. system.slice:berth:{id})"
                ),
            ));
        };
        (slice, prefix, name)
    };
    let slice = match (slice, user) {
        ("", None) => "system.slice",
        ("", Some(_)) => "user.slice",
        (s, _) => s,
    };
    check_slice(p, slice)?;
    if name.is_empty() || name.contains('/') {
        return Err(ConfigError::invalid(
            JSON,
            format!("\"{p}\": the unit name must be non-empty, without \"/\""),
        ));
    }
    if name.ends_with(".slice") {
        return Err(ConfigError::invalid(
            JSON,
            format!(
                "\"{p}\": a slice as the container's own unit is not supported by berth; name a scope"
            ),
        ));
    }
    let name = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok(Unit {
        slice: slice.to_string(),
        name,
        user: user.cloned(),
    })
}

/// A slice's name as systemd takes it: `*.slice`, no `/`, and no empty
/// part between dashes (which would name no parent).
fn check_slice(p: &str, slice: &str) -> Result<(), ConfigError> {
    if slice == "-.slice" {
        return Ok(());
    }
    let bad = |why: &str| {
        Err(ConfigError::invalid(
            JSON,
            format!("\"{p}\": slice \"{slice}\" {why}"),
        ))
    };
    let Some(stem) = slice.strip_suffix(".slice") else {
        return bad("must end in .slice");
    };
    if slice.contains('/') {
        return bad("must not contain \"/\" (a sub-slice is written with \"-\")");
    }
    if stem.split('-').any(|s| s.is_empty()) {
        return bad("has an empty part between dashes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let u = parse(None, "c1", None).unwrap();
        assert_eq!(
            (u.slice.as_str(), u.name.as_str()),
            ("system.slice", "berth-c1.scope")
        );
        assert_eq!(u.cgroup_path(), "/system.slice/berth-c1.scope");
        let u = parse(
            Some("kubepods-besteffort-pod12.slice:cri-containerd:abc"),
            "x",
            None,
        )
        .unwrap();
        assert_eq!(
            u.cgroup_path(),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope"
        );
        let u = parse(Some(":docker:abc"), "x", None).unwrap();
        assert_eq!(u.cgroup_path(), "/system.slice/docker-abc.scope");
        let u = parse(Some("-.slice::abc"), "x", None).unwrap();
        assert_eq!(u.cgroup_path(), "/abc.scope");
        for bad in [
            "/a/b",
            "a:b",
            "a.slice:b:",
            "x:b:c",
            "a/b.slice:p:n",
            "a--b.slice:p:n",
            "a.slice:p:n.slice",
        ] {
            let e = parse(Some(bad), "x", None).unwrap_err().to_string();
            assert!(e.contains("linux.cgroupsPath: "), "{bad}: {e}");
        }
    }

    #[test]
    fn user_manager_units() {
        let m = UserManager {
            socket: "/run/user/1001/bus".into(),
            bus: true,
            uid: 1001,
            cgroup: "/user.slice/user-1001.slice/user@1001.service".into(),
        };
        let u = parse(None, "c1", Some(&m)).unwrap();
        assert_eq!(
            u.cgroup_path(),
            "/user.slice/user-1001.slice/user@1001.service/user.slice/berth-c1.scope"
        );
        let u = parse(Some("a-b.slice:p:n"), "c1", Some(&m)).unwrap();
        assert_eq!(
            u.cgroup_path(),
            "/user.slice/user-1001.slice/user@1001.service/a.slice/a-b.slice/p-n.scope"
        );
    }
}
