//! linux.cgroupsPath in systemd's form, `slice:prefix:name`, and the scope
//! unit and cgroup it names.

use crate::config::ConfigError;

const JSON: &str = "linux.cgroupsPath";

/// The container's scope unit and the slice it goes under.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unit {
    /// e.g. kubepods-besteffort-pod123.slice; "-.slice" is the root.
    pub slice: String,
    /// e.g. cri-containerd-ID.scope.
    pub name: String,
}

impl Unit {
    /// The scope's cgroup, as systemd lays slices out: each `-` in a
    /// slice's name is one level (a-b.slice lives in a.slice).
    pub fn cgroup_path(&self) -> String {
        let mut path = String::new();
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
/// `slice`; an empty path is `system.slice:berth:ID`, an empty slice
/// system.slice, as runc's defaults with berth's own prefix.
pub fn parse(configured: Option<&str>, id: &str) -> Result<Unit, ConfigError> {
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
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
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
        let u = parse(None, "c1").unwrap();
        assert_eq!(
            (u.slice.as_str(), u.name.as_str()),
            ("system.slice", "berth-c1.scope")
        );
        assert_eq!(u.cgroup_path(), "/system.slice/berth-c1.scope");
        let u = parse(
            Some("kubepods-besteffort-pod12.slice:cri-containerd:abc"),
            "x",
        )
        .unwrap();
        assert_eq!(
            u.cgroup_path(),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope"
        );
        let u = parse(Some(":docker:abc"), "x").unwrap();
        assert_eq!(u.cgroup_path(), "/system.slice/docker-abc.scope");
        let u = parse(Some("-.slice::abc"), "x").unwrap();
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
            let e = parse(Some(bad), "x").unwrap_err().to_string();
            assert!(e.contains("linux.cgroupsPath: "), "{bad}: {e}");
        }
    }
}
