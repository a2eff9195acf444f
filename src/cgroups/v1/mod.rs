//! cgroup v1: one directory per mounted hierarchy (cpu, memory, devices,
//! ..., name=systemd) and, on a hybrid host, the unified cgroup2 tree too,
//! as runc does. Controllers get a file each beside `devices.rs`.

mod cpu;
mod devices;
mod freezer;
mod memory;
mod other;
mod stats;

use super::write::Write;
use super::{
    CgroupError, DeviceRule, View, make_path, read_pids, remove_berth_parents, remove_dir, write,
};
use crate::error::SysError;
use oci_spec::runtime::LinuxResources;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    /// "cgroup" for a v1 hierarchy, "cgroup2" for the unified tree.
    pub fstype: &'static str,
    /// Its controllers and name= (e.g. ["cpu"], ["name=systemd"]).
    pub options: Vec<String>,
}

impl Hierarchy {
    fn has(&self, controller: &str) -> bool {
        self.options.iter().any(|o| o == controller)
    }
}

pub struct Manager {
    path: String,
    hierarchies: Vec<Hierarchy>,
}

impl Manager {
    pub fn discover(path: &str) -> Result<Manager, CgroupError> {
        let text = crate::mountinfo::read()?;
        Ok(Manager {
            path: path.to_string(),
            hierarchies: parse_mountinfo(&text),
        })
    }

    fn dir(&self, h: &Hierarchy) -> PathBuf {
        h.mountpoint.join(self.path.trim_start_matches('/'))
    }

    fn controller(&self, name: &str) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.has(name))
    }

    pub fn create(&self) -> Result<(), CgroupError> {
        for h in &self.hierarchies {
            // Most often the parent exists: one mkdir per hierarchy.
            let leaf = self.dir(h);
            match std::fs::create_dir(&leaf) {
                Ok(()) => {
                    if h.has("cpuset") {
                        inherit_cpuset(&leaf)?;
                    }
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(SysError::new("create", leaf.display(), e).into()),
            }
            let cpuset = h.has("cpuset");
            make_path(
                &h.mountpoint,
                &self.path,
                |_| {},
                |dir| if cpuset { inherit_cpuset(dir) } else { Ok(()) },
            )?;
        }
        Ok(())
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        for h in &self.hierarchies {
            write(&self.dir(h).join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    pub(crate) fn writes(r: &LinuxResources) -> Result<Vec<Write>, CgroupError> {
        if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(CgroupError::Unsupported {
                path: "linux.resources.unified".into(),
                msg: "unified resources need a cgroup v2 host; this one runs cgroup v1".into(),
            });
        }
        let mut out = Vec::new();
        memory::writes(r, &mut out);
        cpu::writes(r, &mut out);
        other::writes(r, &mut out);
        Ok(out)
    }

    pub fn check(&self, r: &LinuxResources, rules: &[DeviceRule]) -> Result<(), CgroupError> {
        if !rules.is_empty() && self.controller("devices").is_none() {
            return Err(CgroupError::NoController {
                path: "linux.resources.devices".into(),
                why: "the devices cgroup controller is not mounted on this host".into(),
            });
        }
        // runc 1.1 drops other letters on v1; a rule left with none fails.
        if let Some(r) = rules.iter().find(|r| r.known_access().is_empty()) {
            return Err(
                r.bad_access("has none of r, w and m (other letters are ignored on cgroup v1)")
            );
        }
        for w in Self::writes(r)? {
            let Some(h) = self.controller(w.controller) else {
                return Err(w.no_controller(format!(
                    "the {} cgroup controller is not mounted on this host",
                    w.controller
                )));
            };
            if !w.optional && !self.dir(h).join(&w.file).exists() {
                return Err(w.missing(&format!(
                    "this kernel's {} controller has no {}",
                    w.controller, w.file
                )));
            }
        }
        Ok(())
    }

    pub fn apply(&self, r: &LinuxResources, rules: &[DeviceRule]) -> Result<(), CgroupError> {
        if !rules.is_empty() {
            let h = self.controller("devices").expect("checked");
            devices::apply(&self.dir(h), rules)?;
        }
        let mut writes = Self::writes(r)?;
        if let Some(dir) = self.controller_dir("memory") {
            order_memory(&mut writes, &dir);
        }
        // A period the kernel refused until the quota is written.
        let mut period_after_quota: Option<&Write> = None;
        for w in &writes {
            let dir = self.dir(self.controller(w.controller).expect("checked"));
            if w.optional && !dir.join(&w.file).exists() {
                continue;
            }
            match w.apply(&dir) {
                // A new period is checked against the quota in force, which
                // under a parent with a quota of its own may exceed the
                // parent's share with that period: then after the new quota.
                Err(e)
                    if w.file == "cpu.cfs_period_us"
                        && is_einval(&e)
                        && writes.iter().any(|q| q.file == "cpu.cfs_quota_us") =>
                {
                    period_after_quota = Some(w);
                }
                r => r?,
            }
            if w.file == "cpu.cfs_quota_us"
                && let Some(p) = period_after_quota.take()
            {
                p.apply(&dir)?;
            }
            // Since Linux 6.1 the kernel takes a kernel memory limit and
            // ignores it: say so rather than pretend.
            if w.file == "memory.kmem.limit_in_bytes" {
                let now = std::fs::read_to_string(dir.join(&w.file)).unwrap_or_default();
                if now.trim() != w.value {
                    crate::logging::warn(&format!(
                        "{}: this kernel does not enforce kernel memory limits; {} is ignored",
                        w.json, w.value
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        // Every process is in every hierarchy; one that exists on all hosts will do.
        let h = self.controller("pids").or_else(|| self.hierarchies.first());
        match h {
            Some(h) => read_pids(&self.dir(h).join("cgroup.procs")),
            None => Ok(Vec::new()),
        }
    }

    pub fn destroy(&self) -> Result<(), CgroupError> {
        let mut first_err = None;
        // One bound for every hierarchy, not one each.
        let until = super::deadline(super::REMOVE_BOUND);
        for h in &self.hierarchies {
            if let Err(e) = remove_dir(&self.dir(h), until) {
                first_err.get_or_insert(e);
            } else {
                remove_berth_parents(&h.mountpoint, &self.path);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    pub fn views(&self) -> Vec<View> {
        self.hierarchies
            .iter()
            .map(|h| {
                let mut options: Vec<(String, Option<String>)> = h
                    .options
                    .iter()
                    .map(|o| match o.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (o.clone(), None),
                    })
                    .collect();
                if h.fstype == "cgroup" && options.iter().all(|(k, _)| k == "name") {
                    options.insert(0, ("none".into(), None));
                }
                View {
                    name: h
                        .mountpoint
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    host_path: self.dir(h),
                    fstype: h.fstype,
                    options,
                }
            })
            .collect()
    }

    pub fn clone_into(&self) -> Option<OwnedFd> {
        None
    }

    fn controller_dir(&self, name: &str) -> Option<PathBuf> {
        self.controller(name).map(|h| self.dir(h))
    }

    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        let Some(dir) = self.controller_dir("freezer") else {
            return Err(CgroupError::Unsupported {
                path: "pause".into(),
                msg: "the freezer cgroup controller is not mounted on this host".into(),
            });
        };
        freezer::set(&dir, if frozen { "FROZEN" } else { "THAWED" })
    }

    /// The freezer's cgroup, file and state when not THAWED (FROZEN, or
    /// FREEZING: stuck half way, which is no better).
    pub fn frozen_state(&self) -> Option<(PathBuf, &'static str, String)> {
        let dir = self.controller_dir("freezer")?;
        let state = std::fs::read_to_string(dir.join("freezer.state")).ok()?;
        (state.trim() != "THAWED").then(|| (dir, "freezer.state", state.trim().to_string()))
    }

    pub fn stats(&self) -> Result<crate::cgroups::stats::Stats, CgroupError> {
        let mut s = crate::cgroups::stats::Stats::default();
        stats::cpu(
            self.controller_dir("cpuacct").as_deref(),
            self.controller_dir("cpu").as_deref(),
            &mut s,
        );
        if let Some(d) = self.controller_dir("memory") {
            stats::memory(&d, &mut s);
        }
        if let Some(d) = self.controller_dir("pids") {
            stats::pids(&d, &mut s);
        }
        if let Some(d) = self.controller_dir("blkio") {
            stats::blkio(&d, &mut s);
        }
        if let Some(d) = self.controller_dir("hugetlb") {
            stats::hugetlb(&d, &mut s);
        }
        Ok(s)
    }

    pub fn oom_kills(&self) -> Option<crate::cgroups::OomKills> {
        let d = self.controller_dir("memory")?;
        Some(crate::cgroups::OomKills::read(&d, true))
    }

    pub fn oom_watch(&self) -> Result<crate::cgroups::OomWatch, CgroupError> {
        let Some(d) = self.controller_dir("memory") else {
            return Err(CgroupError::Unsupported {
                path: "events".into(),
                msg: "the memory cgroup controller is not mounted on this host".into(),
            });
        };
        Ok(crate::cgroups::OomWatch::v1(&d)?)
    }
}

/// Puts the memory+swap write before the memory limit's when the kernel
/// needs it so (memory::swap_first, from the limit in force in `dir`).
fn order_memory(writes: &mut [Write], dir: &Path) {
    let find = |f: &str| writes.iter().position(|w| w.file == f);
    let (Some(limit), Some(swap)) = (
        find("memory.limit_in_bytes"),
        find("memory.memsw.limit_in_bytes"),
    ) else {
        return;
    };
    let current = std::fs::read_to_string(dir.join("memory.limit_in_bytes"))
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let new_swap = writes[swap].value.parse::<i64>().unwrap_or(-1);
    if current.is_some_and(|c| memory::swap_first(c, new_swap)) == (swap > limit) {
        writes.swap(limit, swap);
    }
}

fn is_einval(e: &CgroupError) -> bool {
    matches!(e, CgroupError::Write { source, .. } if source.errno() == Some(libc::EINVAL))
}

/// A new cpuset cgroup starts with no cpus and no mems, and no process can
/// join it until it has both; a child's must lie within its parent's. So
/// each empty level, from the nearest ancestor that has them down to `dir`,
/// takes that ancestor's (a parent another berth has just made may not
/// have its own yet), as runc does.
fn inherit_cpuset(dir: &Path) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mut empty = Vec::new();
        let mut at = Some(dir);
        let mut from = String::new();
        while let Some(p) = at {
            let v = std::fs::read_to_string(p.join(file))
                .map_err(|e| SysError::new("read", p.join(file).display(), e))?;
            if !v.trim().is_empty() {
                from = v.trim().to_string();
                break;
            }
            empty.push(p);
            at = p.parent();
        }
        for p in empty.iter().rev() {
            write(&p.join(file), &from)?;
        }
    }
    Ok(())
}

/// The cgroup hierarchies in a mountinfo text, each once, in mount order.
fn parse_mountinfo(text: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for m in crate::mountinfo::parse(text) {
        let Some(super_options) = m.super_options else {
            continue;
        };
        if m.root != "/" {
            continue;
        }
        let fstype = match m.fstype {
            "cgroup" => "cgroup",
            "cgroup2" => "cgroup2",
            _ => continue,
        };
        let options: Vec<String> = if fstype == "cgroup" {
            super_options
                .split(',')
                .filter(|o| {
                    !matches!(*o, "rw" | "ro")
                        && !o.starts_with("release_agent=")
                        && *o != "clone_children"
                        && *o != "noprefix"
                })
                .map(String::from)
                .collect()
        } else {
            Vec::new()
        };
        // A hierarchy mounted twice is the same hierarchy.
        if out
            .iter()
            .any(|h| h.fstype == fstype && h.options == options)
        {
            continue;
        }
        out.push(Hierarchy {
            mountpoint: m.mount_point,
            fstype,
            options,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
35 25 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec - tmpfs tmpfs rw,mode=755
36 35 0:31 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
37 35 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu
38 35 0:33 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
39 35 0:34 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
40 35 0:35 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices,release_agent=/x
";

    #[test]
    fn hybrid_hierarchies() {
        let h = parse_mountinfo(HYBRID);
        let names: Vec<_> = h
            .iter()
            .map(|h| h.mountpoint.display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "/sys/fs/cgroup/cpu",
                "/sys/fs/cgroup/systemd",
                "/sys/fs/cgroup/unified",
                "/sys/fs/cgroup/devices"
            ]
        );
        assert_eq!(h[3].options, ["devices"]);
        let m = Manager {
            path: "/berth/c1".into(),
            hierarchies: h,
        };
        let v = m.views();
        assert_eq!(v[1].name, "systemd");
        assert_eq!(
            v[1].options,
            [
                ("none".to_string(), None),
                ("name".to_string(), Some("systemd".to_string()))
            ]
        );
        assert_eq!(v[2].fstype, "cgroup2");
        assert_eq!(v[0].host_path, Path::new("/sys/fs/cgroup/cpu/berth/c1"));
    }
}
