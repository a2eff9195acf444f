//! Resources become an ordered list of writes, each naming the config
//! field it comes from: checked against the host before the clone (is the
//! controller there, does it have that file), applied once the container
//! process is ready, and reported by JSON path when the kernel refuses.

use super::CgroupError;
use crate::error::SysError;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The config field, e.g. linux.resources.memory.limit.
    pub json: String,
    /// The controller (v1 hierarchy) the file belongs to; "" on v2.
    pub controller: &'static str,
    pub file: String,
    pub value: String,
    /// Written only where the kernel has the file (a write implied by
    /// another, such as memory+swap following an unlimited memory limit).
    pub optional: bool,
}

pub fn w(
    json: impl Into<String>,
    controller: &'static str,
    file: impl Into<String>,
    value: impl ToString,
) -> Write {
    Write {
        json: json.into(),
        controller,
        file: file.into(),
        value: value.to_string(),
        optional: false,
    }
}

impl Write {
    pub fn if_present(self) -> Write {
        Write {
            optional: true,
            ..self
        }
    }

    /// Writes the value into `dir`, naming the config field on failure.
    pub fn apply(&self, dir: &Path) -> Result<(), CgroupError> {
        let file = dir.join(&self.file);
        std::fs::write(&file, &self.value).map_err(|e| CgroupError::Write {
            path: self.json.clone(),
            source: SysError::new(
                "write",
                format!("{:?} to {}", self.value, file.display()),
                e,
            ),
        })
    }

    /// Its controller is not on this host at all.
    pub fn no_controller(&self, why: String) -> CgroupError {
        CgroupError::NoController {
            path: self.json.clone(),
            why,
        }
    }

    pub fn missing(&self, why: &str) -> CgroupError {
        CgroupError::Unsupported {
            path: self.json.clone(),
            msg: why.to_string(),
        }
    }
}

/// An rdma.max line: "mlx4_0 hca_handle=2 hca_object=2000" (v1 and v2 alike).
pub fn rdma_line(dev: &str, l: &oci_spec::runtime::LinuxRdma) -> String {
    let mut v = dev.to_string();
    if let Some(h) = l.hca_handles() {
        v.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = l.hca_objects() {
        v.push_str(&format!(" hca_object={o}"));
    }
    v
}
