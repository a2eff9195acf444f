//! AppArmor and SELinux labels, as runc handles them: an AppArmor profile
//! on a host without AppArmor is an error (the profile would not apply);
//! SELinux labels on a host without SELinux are ignored, as go-selinux
//! ignores them for runc.

use crate::config::ConfigError;
use crate::error::{SysContext, SysError};
use std::path::Path;

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
        && Path::new("/sys/kernel/security/apparmor").exists()
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// The profile to apply, checked against the host.
pub fn apparmor(profile: Option<&str>) -> Result<Option<String>, ConfigError> {
    match profile.filter(|p| !p.is_empty()) {
        None => Ok(None),
        Some(_) if !apparmor_enabled() => {
            Err(ConfigError::invalid("process.apparmorProfile", "AppArmor is not enabled on this host: the profile cannot be applied"))
        }
        Some(p) => Ok(Some(p.to_string())),
    }
}

/// The label to apply, or None on a host without SELinux.
pub fn selinux(label: Option<&str>) -> Option<String> {
    let label = label.filter(|l| !l.is_empty())?;
    if selinux_enabled() {
        Some(label.to_string())
    } else {
        crate::logging::debug(&format!("SELinux is not enabled on this host: label {label} is ignored, as runc does"));
        None
    }
}

/// Applies the profile and label to the next exec of this process.
pub fn apply_on_exec(apparmor: Option<&str>, selinux: Option<&str>) -> Result<(), SysError> {
    if let Some(p) = apparmor {
        let file = if Path::new("/proc/self/attr/apparmor/exec").exists() { "/proc/self/attr/apparmor/exec" } else { "/proc/self/attr/exec" };
        std::fs::write(file, format!("exec {p}")).sys("apply apparmor profile", p)?;
    }
    if let Some(l) = selinux {
        std::fs::write("/proc/self/attr/exec", l).sys("apply selinux label", l)?;
    }
    Ok(())
}
