//! Where the container's cgroup lives: linux.cgroupsPath if absolute,
//! under berth's parent if relative, /berth/ID if absent.

use crate::config::ConfigError;

pub const DEFAULT_PARENT: &str = "/berth";

pub fn cgroup_path(configured: Option<&str>, id: &str) -> Result<String, ConfigError> {
    let p = match configured.filter(|p| !p.is_empty()) {
        None => return Ok(format!("{DEFAULT_PARENT}/{id}")),
        Some(p) => p,
    };
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
    if p.starts_with('/') {
        Ok(format!("/{}", clean.join("/")))
    } else {
        Ok(format!("{DEFAULT_PARENT}/{}", clean.join("/")))
    }
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
}
