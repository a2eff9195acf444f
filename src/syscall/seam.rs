//! The Syscall seam: the system calls by which a process changes who it is
//! (capabilities, ids, no_new_privs, seccomp) and where it is
//! (namespaces), behind one trait. The logic that orders them
//! (process/identity.rs, process/namespaces.rs) takes any `Syscall`: the
//! real `Kernel`, or in unit tests the `Recorder`, which needs no root and
//! shows the calls in order. Generic, so the seam costs nothing at run
//! time.

use super::SeccompFilter;
use crate::error::SysError;
use rustix::io::Result;
use std::os::fd::{BorrowedFd, OwnedFd};

pub trait Syscall {
    fn drop_bounding(&self, cap: u32) -> Result<()>;
    fn set_keep_caps(&self, on: bool) -> Result<()>;
    fn set_groups(&self, gids: &[u32]) -> Result<()>;
    /// Real, effective and saved gid together.
    fn set_gid(&self, gid: u32) -> Result<()>;
    fn set_uid(&self, uid: u32) -> Result<()>;
    fn set_caps(&self, effective: u64, permitted: u64, inheritable: u64) -> Result<()>;
    fn clear_ambient(&self) -> Result<()>;
    fn raise_ambient(&self, cap: u32) -> Result<()>;
    fn set_no_new_privs(&self) -> Result<()>;
    /// Returns the notify listener of a filter that has one.
    fn install_seccomp(&self, f: &SeccompFilter) -> std::result::Result<Option<OwnedFd>, SysError>;
    fn setns(&self, ns: BorrowedFd) -> Result<()>;
    fn unshare(&self, clone_flags: u64) -> Result<()>;
}

/// The kernel itself.
pub struct Kernel;

fn cap(n: u32) -> rustix::thread::CapabilitySet {
    rustix::thread::CapabilitySet::from_bits_retain(1 << n)
}

impl Syscall for Kernel {
    fn drop_bounding(&self, n: u32) -> Result<()> {
        rustix::thread::remove_capability_from_bounding_set(cap(n))
    }
    fn set_keep_caps(&self, on: bool) -> Result<()> {
        rustix::thread::set_keep_capabilities(on)
    }
    fn set_groups(&self, gids: &[u32]) -> Result<()> {
        let gids: Vec<_> = gids
            .iter()
            .map(|g| rustix::thread::Gid::from_raw(*g))
            .collect();
        rustix::thread::set_thread_groups(&gids)
    }
    fn set_gid(&self, gid: u32) -> Result<()> {
        let g = rustix::thread::Gid::from_raw(gid);
        rustix::thread::set_thread_res_gid(g, g, g)
    }
    fn set_uid(&self, uid: u32) -> Result<()> {
        let u = rustix::thread::Uid::from_raw(uid);
        rustix::thread::set_thread_res_uid(u, u, u)
    }
    fn set_caps(&self, effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
        use rustix::thread::{CapabilitySet, CapabilitySets};
        let f = CapabilitySet::from_bits_retain;
        rustix::thread::set_capabilities(
            None,
            CapabilitySets {
                effective: f(effective),
                permitted: f(permitted),
                inheritable: f(inheritable),
            },
        )
    }
    fn clear_ambient(&self) -> Result<()> {
        rustix::thread::clear_ambient_capability_set()
    }
    fn raise_ambient(&self, n: u32) -> Result<()> {
        rustix::thread::configure_capability_in_ambient_set(cap(n), true)
    }
    fn set_no_new_privs(&self) -> Result<()> {
        rustix::thread::set_no_new_privs(true)
    }
    fn install_seccomp(&self, f: &SeccompFilter) -> std::result::Result<Option<OwnedFd>, SysError> {
        super::install_seccomp(f)
    }
    fn setns(&self, ns: BorrowedFd) -> Result<()> {
        rustix::thread::move_into_link_name_space(ns, None)
    }
    fn unshare(&self, flags: u64) -> Result<()> {
        // SAFETY: unshare of namespaces (no CLONE_FILES/CLONE_FS games)
        // cannot invalidate anything this single-threaded process holds.
        unsafe {
            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::from_bits_retain(
                flags as u32,
            ))
        }
    }
}

/// For unit tests: records each call as a line ("set_uid 1000"), and fails
/// the calls whose line starts with a prefix given to `fail`.
#[cfg(test)]
#[derive(Default)]
pub struct Recorder {
    pub calls: std::cell::RefCell<Vec<String>>,
    failing: Vec<(String, rustix::io::Errno)>,
}

#[cfg(test)]
impl Recorder {
    pub fn fail(mut self, prefix: &str, errno: rustix::io::Errno) -> Recorder {
        self.failing.push((prefix.to_string(), errno));
        self
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    fn call(&self, line: String) -> Result<()> {
        let failed = self
            .failing
            .iter()
            .find(|(p, _)| line.starts_with(p.as_str()));
        self.calls.borrow_mut().push(line);
        match failed {
            Some((_, e)) => Err(*e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
impl Syscall for Recorder {
    fn drop_bounding(&self, cap: u32) -> Result<()> {
        self.call(format!("drop_bounding {cap}"))
    }
    fn set_keep_caps(&self, on: bool) -> Result<()> {
        self.call(format!("set_keep_caps {on}"))
    }
    fn set_groups(&self, gids: &[u32]) -> Result<()> {
        self.call(format!("set_groups {gids:?}"))
    }
    fn set_gid(&self, gid: u32) -> Result<()> {
        self.call(format!("set_gid {gid}"))
    }
    fn set_uid(&self, uid: u32) -> Result<()> {
        self.call(format!("set_uid {uid}"))
    }
    fn set_caps(&self, e: u64, p: u64, i: u64) -> Result<()> {
        self.call(format!("set_caps e={e:#x} p={p:#x} i={i:#x}"))
    }
    fn clear_ambient(&self) -> Result<()> {
        self.call("clear_ambient".into())
    }
    fn raise_ambient(&self, cap: u32) -> Result<()> {
        self.call(format!("raise_ambient {cap}"))
    }
    fn set_no_new_privs(&self) -> Result<()> {
        self.call("set_no_new_privs".into())
    }
    fn install_seccomp(&self, f: &SeccompFilter) -> std::result::Result<Option<OwnedFd>, SysError> {
        use crate::error::SysContext;
        self.call(format!("install_seccomp notify={}", f.notify()))
            .sys("seccomp", "filter")?;
        // A listener stands in as any fd: /dev/null.
        Ok(f.notify()
            .then(|| std::fs::File::open("/dev/null").unwrap().into()))
    }
    fn setns(&self, ns: BorrowedFd) -> Result<()> {
        use std::os::fd::AsRawFd;
        self.call(format!("setns fd {}", ns.as_raw_fd()))
    }
    fn unshare(&self, flags: u64) -> Result<()> {
        self.call(format!("unshare {flags:#x}"))
    }
}
