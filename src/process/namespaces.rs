//! linux.namespaces: which to create (clone flags) and which to join (fds
//! opened and checked in the parent, setns'd by the child), in the order
//! the kernel requires: user first, so the rest are owned by it.

use crate::config::ConfigError;
use crate::error::{SysContext, SysError};
use crate::syscall::*;
use oci_spec::runtime::{Linux, LinuxNamespaceType as T};
use std::os::fd::{AsFd, OwnedFd};

pub fn flag(t: T) -> u64 {
    match t {
        T::Mount => CLONE_NEWNS,
        T::Cgroup => CLONE_NEWCGROUP,
        T::Uts => CLONE_NEWUTS,
        T::Ipc => CLONE_NEWIPC,
        T::User => CLONE_NEWUSER,
        T::Pid => CLONE_NEWPID,
        T::Network => CLONE_NEWNET,
        T::Time => CLONE_NEWTIME,
    }
}

#[derive(Debug, Default)]
pub struct Namespaces {
    /// CLONE_NEW* of the namespaces to create.
    pub new: u64,
    /// Namespaces to join: (CLONE_NEW* type, fd), user first.
    pub join: Vec<(u64, OwnedFd)>,
    /// linux.timeOffsets as /proc/PID/timens_offsets lines.
    pub time_offsets: Vec<String>,
}

impl Namespaces {
    pub fn from_spec(linux: Option<&Linux>) -> Result<Namespaces, ConfigError> {
        let mut ns = Namespaces::default();
        let Some(linux) = linux else { return Ok(ns) };
        for (i, n) in linux.namespaces().iter().flatten().enumerate() {
            let f = flag(n.typ());
            match n.path() {
                None => ns.new |= f,
                Some(p) => {
                    let at = format!("linux.namespaces[{i}].path");
                    let fd = rustix::fs::open(
                        p,
                        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                        rustix::fs::Mode::empty(),
                    )
                    .map_err(|e| {
                        ConfigError::invalid(
                            &at,
                            format!("{}: {}", p.display(), crate::error::errno_text(&e.into())),
                        )
                    })?;
                    match ns_type(fd.as_fd()) {
                        Ok(t) if t == f => {}
                        Ok(_) | Err(_) => {
                            return Err(ConfigError::invalid(
                                at,
                                format!(
                                    "{} is not a {} namespace",
                                    p.display(),
                                    crate::config::ns_name(n.typ())
                                ),
                            ));
                        }
                    }
                    ns.join.push((f, fd));
                }
            }
        }
        // setns into the user namespace first: the others are then entered
        // with the capabilities it gives.
        ns.join
            .sort_by_key(|(f, _)| if *f == CLONE_NEWUSER { 0 } else { 1 });
        for (clock, off) in linux.time_offsets().iter().flatten() {
            ns.time_offsets.push(format!(
                "{clock} {} {}",
                off.secs().unwrap_or(0),
                off.nanosecs().unwrap_or(0)
            ));
        }
        Ok(ns)
    }

    /// The /proc/PID/ns names of every namespace the container has of its
    /// own (created or joined), user first: what `exec` enters.
    pub fn proc_names(&self) -> Vec<String> {
        let all = self.new | self.join.iter().fold(0, |a, (t, _)| a | t);
        [
            (CLONE_NEWUSER, "user"),
            (CLONE_NEWNS, "mnt"),
            (CLONE_NEWNET, "net"),
            (CLONE_NEWIPC, "ipc"),
            (CLONE_NEWUTS, "uts"),
            (CLONE_NEWCGROUP, "cgroup"),
            (CLONE_NEWPID, "pid"),
            (CLONE_NEWTIME, "time"),
        ]
        .iter()
        .filter(|(f, _)| all & f != 0)
        .map(|(_, n)| n.to_string())
        .collect()
    }

    /// The plan without opening namespace paths (nothing on the host).
    pub fn from_spec_without_paths(linux: &Linux) -> Result<Namespaces, ConfigError> {
        let mut l = linux.clone();
        if let Some(ns) = l.namespaces_mut().as_mut() {
            for n in ns.iter_mut() {
                n.set_path(None);
            }
        }
        Namespaces::from_spec(Some(&l))
    }

    pub fn creates(&self, f: u64) -> bool {
        self.new & f != 0
    }

    pub fn joins(&self, f: u64) -> bool {
        self.join.iter().any(|(t, _)| *t == f)
    }

    /// The flags the first clone can take. Everything can be created in one
    /// clone unless a namespace must be joined first (then the child
    /// unshares after setns), or a time namespace needs offsets written
    /// before any process enters it. The cgroup namespace is always
    /// unshared by the child once it is in its cgroup, so that its root
    /// is the container's cgroup.
    pub fn clone_flags(&self) -> u64 {
        // The process that forks the container's must not be the init of
        // a new pid namespace (an init cannot fork a sibling): if a second
        // fork is coming, everything is unshared after the clone.
        if !self.join.is_empty() || !self.time_offsets.is_empty() {
            return 0;
        }
        self.new & !CLONE_NEWCGROUP
    }

    /// Namespaces the child still has to unshare after the clone.
    pub fn unshare_flags(&self) -> u64 {
        self.new & !self.clone_flags()
    }

    /// Whether the container process must be a second fork: joining or
    /// unsharing a pid or time namespace only affects children.
    pub fn second_fork(&self) -> bool {
        let late = self.unshare_flags();
        late & (CLONE_NEWPID | CLONE_NEWTIME) != 0
            || self.joins(CLONE_NEWPID)
            || self.joins(CLONE_NEWTIME)
    }

    /// In the child: setns into each namespace to join, in order.
    pub fn join_all(&self, sys: &impl Syscall) -> Result<(), SysError> {
        for (t, fd) in &self.join {
            sys.setns(fd.as_fd()).sys("setns", ns_label(*t))?;
        }
        Ok(())
    }
}

pub fn ns_label(t: u64) -> &'static str {
    match t {
        CLONE_NEWNS => "mount namespace",
        CLONE_NEWCGROUP => "cgroup namespace",
        CLONE_NEWUTS => "uts namespace",
        CLONE_NEWIPC => "ipc namespace",
        CLONE_NEWUSER => "user namespace",
        CLONE_NEWPID => "pid namespace",
        CLONE_NEWNET => "network namespace",
        _ => "time namespace",
    }
}

/// unshare(2) of the given CLONE_NEW* flags.
pub fn unshare(sys: &impl Syscall, flags: u64) -> Result<(), SysError> {
    if flags == 0 {
        return Ok(());
    }
    sys.unshare(flags).sys("unshare", "namespaces")
}

/// Writes the time namespace offsets for the children of this process.
pub fn write_time_offsets(offsets: &[String]) -> Result<(), SysError> {
    for line in offsets {
        std::fs::write("/proc/self/timens_offsets", line)
            .sys("write", format!("timens_offsets \"{line}\""))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(json: &str) -> Namespaces {
        let linux: Linux = serde_json::from_str(json).unwrap();
        Namespaces::from_spec(Some(&linux)).unwrap()
    }

    #[test]
    fn all_new_is_one_clone() {
        let n = ns(
            r#"{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"user"},{"type":"cgroup"}],"uidMappings":[],"gidMappings":[]}"#,
        );
        assert_eq!(n.clone_flags(), CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUSER);
        assert_eq!(n.unshare_flags(), CLONE_NEWCGROUP);
        assert!(!n.second_fork());
    }

    #[test]
    fn the_user_namespace_is_joined_first_and_a_refusal_names_the_type() {
        use crate::syscall::seam::Recorder;
        use std::os::fd::AsRawFd;
        let n = ns(
            r#"{"namespaces":[{"type":"network","path":"/proc/self/ns/net"},{"type":"user","path":"/proc/self/ns/user"}]}"#,
        );
        let fd = |t| n.join.iter().find(|(f, _)| *f == t).unwrap().1.as_raw_fd();
        let sys = Recorder::default();
        n.join_all(&sys).unwrap();
        let want = [CLONE_NEWUSER, CLONE_NEWNET].map(|t| format!("setns fd {}", fd(t)));
        assert_eq!(sys.calls(), want);
        let sys = Recorder::default().fail("setns", rustix::io::Errno::PERM);
        let e = n.join_all(&sys).unwrap_err().to_string();
        assert!(e.contains("setns user namespace"), "{e}");
        assert_eq!(sys.calls().len(), 1);
    }

    #[test]
    fn time_offsets_need_a_second_fork() {
        let n = ns(
            r#"{"namespaces":[{"type":"time"},{"type":"pid"}],"timeOffsets":{"monotonic":{"secs":10}}}"#,
        );
        assert_eq!(n.clone_flags(), 0);
        assert_eq!(n.unshare_flags(), CLONE_NEWTIME | CLONE_NEWPID);
        assert!(n.second_fork());
        assert_eq!(n.time_offsets, ["monotonic 10 0"]);
        let n = ns(r#"{"namespaces":[{"type":"time"}]}"#);
        assert_eq!(n.clone_flags(), CLONE_NEWTIME);
        assert!(!n.second_fork());
    }

    #[test]
    fn joining_checks_the_type() {
        let linux: Linux = serde_json::from_str(
            r#"{"namespaces":[{"type":"pid"},{"type":"network","path":"/proc/self/ns/uts"}]}"#,
        )
        .unwrap();
        let e = Namespaces::from_spec(Some(&linux)).unwrap_err().to_string();
        assert_eq!(
            e,
            "config.json: linux.namespaces[1].path: /proc/self/ns/uts is not a network namespace"
        );
        let linux: Linux = serde_json::from_str(
            r#"{"namespaces":[{"type":"uts","path":"/proc/self/ns/uts"},{"type":"pid"}]}"#,
        )
        .unwrap();
        let n = Namespaces::from_spec(Some(&linux)).unwrap();
        assert_eq!(n.clone_flags(), 0);
        assert!(
            n.second_fork(),
            "a new pid namespace after setns needs a fork"
        );
    }
}
