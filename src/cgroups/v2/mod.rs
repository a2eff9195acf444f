//! cgroup v2: one directory in the unified tree. Device rules on v2 need an
//! eBPF program, which the cgroups issue brings.

use super::{CgroupError, DeviceRule, read_pids, remove_berth_parents, remove_dir, write};
use crate::error::SysError;
use crate::mounts::CgroupView;
use rustix::fs::{Mode, OFlags};
use oci_spec::runtime::LinuxResources;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

pub struct Manager {
    root: PathBuf,
    path: String,
}

impl Manager {
    pub fn new(root: PathBuf, path: &str) -> Manager {
        Manager { root, path: path.to_string() }
    }

    fn dir(&self) -> PathBuf {
        self.root.join(self.path.trim_start_matches('/'))
    }

    pub fn create(&self) -> Result<(), CgroupError> {
        std::fs::create_dir_all(self.dir()).map_err(|e| SysError::new("create", self.dir().display(), e).into())
    }

    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        write(&self.dir().join("cgroup.procs"), &pid.to_string())
    }

    pub fn check(&self, r: &LinuxResources, rules: &[DeviceRule]) -> Result<(), CgroupError> {
        if !rules.is_empty() {
            return Err(CgroupError::Unsupported {
                path: "linux.resources.devices".into(),
                msg: "device rules on cgroup v2 are not supported by berth yet".into(),
            });
        }
        let set = r.memory().is_some() || r.cpu().is_some() || r.pids().is_some() || r.block_io().is_some()
            || r.hugepage_limits().is_some() || r.network().is_some() || r.rdma().is_some() || r.unified().is_some();
        if set {
            return Err(CgroupError::Unsupported {
                path: "linux.resources".into(),
                msg: "cgroup v2 limits are not supported by berth yet".into(),
            });
        }
        Ok(())
    }

    pub fn apply(&self, r: &LinuxResources, rules: &[DeviceRule]) -> Result<(), CgroupError> {
        self.check(r, rules)
    }

    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        read_pids(&self.dir().join("cgroup.procs"))
    }

    pub fn destroy(&self) -> Result<(), CgroupError> {
        remove_dir(&self.dir())?;
        remove_berth_parents(&self.root, &self.path);
        Ok(())
    }

    pub fn views(&self) -> Vec<CgroupView> {
        vec![CgroupView { name: String::new(), host_path: self.dir(), fstype: "cgroup2", options: Vec::new() }]
    }

    pub fn freeze(&self, _frozen: bool) -> Result<(), CgroupError> {
        Err(CgroupError::Unsupported { path: "pause".into(), msg: "cgroup v2 freezing is not supported by berth yet".into() })
    }

    pub fn stats(&self) -> Result<crate::cgroups::stats::Stats, CgroupError> {
        Ok(crate::cgroups::stats::Stats::default())
    }

    pub fn oom_watch(&self) -> Result<crate::cgroups::OomWatch, CgroupError> {
        Ok(crate::cgroups::OomWatch::v2(&self.dir())?)
    }

    pub fn clone_into(&self) -> Option<OwnedFd> {
        rustix::fs::open(self.dir(), OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).ok()
    }
}
