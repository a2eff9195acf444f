//! The v1 devices controller: each rule written, in order, to
//! devices.deny or devices.allow.

use crate::cgroups::{CgroupError, DeviceRule, write};
use std::path::Path;

pub fn apply(dir: &Path, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    for r in rules {
        let file = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write(&dir.join(file), &r.v1_line())?;
    }
    Ok(())
}
