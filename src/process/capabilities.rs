//! The five capability sets of process.capabilities, as bit masks checked
//! against this kernel, and applied in the one order that works: bounding
//! set first (it needs CAP_SETPCAP), then the user switch with
//! PR_SET_KEEPCAPS, then effective/permitted/inheritable, then ambient.

use crate::config::ConfigError;
use crate::error::{SysContext, SysError};
use crate::syscall::Syscall;
use oci_spec::runtime::{Capabilities, LinuxCapabilities};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

fn mask(set: &Option<Capabilities>, path: &str, last: u32) -> Result<u64, ConfigError> {
    let mut m = 0u64;
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        let idx = caps::Capability::from_str(&name)
            .map_err(|_| ConfigError::invalid(path, format!("unknown capability \"{name}\"")))?
            .index() as u32;
        if idx > last {
            return Err(ConfigError::invalid(
                path,
                format!("capability \"{name}\" is not known to this kernel"),
            ));
        }
        m |= 1 << idx;
    }
    Ok(m)
}

impl CapSets {
    pub fn from_spec(c: &LinuxCapabilities) -> Result<CapSets, ConfigError> {
        let last = last_cap();
        let p = "process.capabilities";
        Ok(CapSets {
            bounding: mask(c.bounding(), &format!("{p}.bounding"), last)?,
            effective: mask(c.effective(), &format!("{p}.effective"), last)?,
            permitted: mask(c.permitted(), &format!("{p}.permitted"), last)?,
            inheritable: mask(c.inheritable(), &format!("{p}.inheritable"), last)?,
            ambient: mask(c.ambient(), &format!("{p}.ambient"), last)?,
        })
    }
}

/// Drops every capability not in the bounding set.
pub fn drop_bounding(sys: &impl Syscall, sets: &CapSets) -> Result<(), SysError> {
    for cap in 0..=last_cap() {
        if sets.bounding & (1 << cap) == 0 {
            sys.drop_bounding(cap)
                .sys("drop from bounding set", format!("capability {cap}"))?;
        }
    }
    Ok(())
}

/// Sets effective, permitted and inheritable, then the ambient set.
pub fn apply(sys: &impl Syscall, sets: &CapSets) -> Result<(), SysError> {
    sys.set_caps(sets.effective, sets.permitted, sets.inheritable)
        .sys("set", "capabilities")?;
    let _ = sys.clear_ambient();
    for cap in 0..=last_cap() {
        if sets.ambient & (1 << cap) != 0
            && let Err(e) = sys.raise_ambient(cap)
        {
            // The kernel refuses an ambient capability that is not both
            // permitted and inheritable; runc warns and goes on.
            crate::logging::debug(&format!(
                "ambient capability {cap} not raised: {}",
                std::io::Error::from(e)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_from_names() {
        let c: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_CHOWN","CAP_KILL"],"effective":["CAP_KILL"]}"#,
        )
        .unwrap();
        let s = CapSets::from_spec(&c).unwrap();
        assert_eq!(s.bounding, (1 << 0) | (1 << 5));
        assert_eq!(s.effective, 1 << 5);
        assert_eq!(s.ambient, 0);
    }
}
