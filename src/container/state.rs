//! A container's saved state (state.json under --root/ID) and the status
//! worked out from it and from the kernel: a status is never stored, since
//! a process can die with no berth process watching.

use oci_spec::runtime::Hooks;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `create` is running (or was killed while running).
    Creating,
    /// The process waits for `start`.
    Created,
    /// `start` released it.
    Started,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    /// The container process's pid on the host; 0 until it exists.
    pub pid: i32,
    /// Its start time in clock ticks, which tells it from a reused pid.
    pub start_time: u64,
    pub phase: Phase,
    pub bundle: String,
    pub rootfs: String,
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The container's cgroup path (e.g. /berth/ID) in every hierarchy;
    /// empty for a rootless container that has none.
    pub cgroup_path: String,
    /// With --systemd-cgroup: the scope unit systemd keeps the cgroup in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd: Option<crate::cgroups::systemd::Unit>,
    /// Hooks later commands run (poststart, poststop), so that config.json
    /// is read once, by create.
    #[serde(default)]
    pub hooks: Option<Hooks>,
    /// Whether the container has its own pid namespace (then its init's
    /// death ends every process in it).
    #[serde(default)]
    pub pid_ns: bool,
    /// Without a mount namespace: the mount id at the rootfs before berth
    /// bound it, so delete can take berth's mounts off the host.
    #[serde(default)]
    pub host_mounts: Option<u64>,
    /// What `exec` builds on: the container's process (its caps, rlimits,
    /// env...), seccomp filter and namespaces (their /proc names, user first).
    #[serde(default)]
    pub process: Option<oci_spec::runtime::Process>,
    #[serde(default)]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// linux.memoryPolicy, which exec'd processes get too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_policy: Option<oci_spec::runtime::LinuxMemoryPolicy>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// linux.intelRdt's resctrl groups, for exec and delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resctrl: Option<super::resctrl::RdtState>,
}

impl State {
    /// The manager of the container's cgroup, as create placed it.
    pub fn cgroup(&self) -> Result<crate::cgroups::Manager, crate::cgroups::CgroupError> {
        crate::cgroups::open(&self.cgroup_path, self.systemd.as_ref())
    }

    /// What delete needs, kept in cleanup.json (dir.rs): this state without
    /// what only exec reads (the process, seccomp, namespaces, memory
    /// policy) and the hooks no later command runs. Its phase is always
    /// Creating, so that start's save leaves the record as it was; a
    /// delete that works from the record does not ask for the status.
    pub fn cleanup_record(&self) -> State {
        let poststop = self.hooks.as_ref().and_then(|h| h.poststop().clone());
        State {
            phase: Phase::Creating,
            hooks: poststop.map(|p| {
                let mut h = Hooks::default();
                h.set_poststop(Some(p));
                h
            }),
            process: None,
            seccomp: None,
            memory_policy: None,
            namespaces: Vec::new(),
            ..self.clone()
        }
    }

    /// The status as the kernel sees it now.
    pub fn status(&self) -> Status {
        if self.pid <= 0 {
            return if self.phase == Phase::Creating {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        if !self.alive() {
            return Status::Stopped;
        }
        match self.phase {
            Phase::Creating => Status::Creating,
            _ if !self.cgroup_path.is_empty() && crate::cgroups::is_frozen(&self.cgroup_path) => {
                Status::Paused
            }
            Phase::Created => Status::Created,
            Phase::Started => Status::Running,
        }
    }

    /// The saved pid is still our process, and not a zombie (whose parent
    /// may reap it late: it has stopped all the same).
    pub fn alive(&self) -> bool {
        match crate::syscall::proc_stat(self.pid) {
            Ok((start, state)) => start == self.start_time && state != 'Z' && state != 'X',
            Err(_) => false,
        }
    }

    /// The runtime-spec's state, as `state` prints it and hooks read it.
    pub fn oci(&self, status: Status) -> OciState<'_> {
        OciState {
            oci_version: crate::config::SPEC_VERSION,
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            annotations: if self.annotations.is_empty() {
                None
            } else {
                Some(&self.annotations)
            },
            owner: "",
        }
    }
}

/// runc's state JSON: the spec's fields plus rootfs, created and owner.
#[derive(Debug, Serialize)]
pub struct OciState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'a str,
    pub bundle: &'a str,
    pub rootfs: &'a str,
    pub created: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<&'a BTreeMap<String, String>>,
    pub owner: &'a str,
}

impl OciState<'_> {
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("plain data serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pid: i32, phase: Phase) -> State {
        State {
            id: "c".into(),
            pid,
            start_time: 0,
            phase,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-01-01T00:00:00Z".into(),
            annotations: BTreeMap::new(),
            cgroup_path: "/berth/c".into(),
            systemd: None,
            hooks: None,
            pid_ns: true,
            host_mounts: None,
            process: None,
            seccomp: None,
            memory_policy: None,
            namespaces: Vec::new(),
            resctrl: None,
        }
    }

    #[test]
    fn own_process_is_alive_and_a_reused_pid_is_not() {
        let me = std::process::id() as i32;
        let (start, _) = crate::syscall::proc_stat(me).unwrap();
        let mut s = state(me, Phase::Started);
        s.start_time = start;
        assert_eq!(s.status(), Status::Running);
        s.start_time = start + 1;
        assert_eq!(s.status(), Status::Stopped);
    }

    #[test]
    fn cleanup_record_keeps_what_delete_needs() {
        let mut s = state(42, Phase::Started);
        s.start_time = 7;
        s.process = Some(Default::default());
        s.namespaces = vec!["pid".into()];
        let hooks: Hooks = serde_json::from_str(
            r#"{"poststop":[{"path":"/bin/true"}],"poststart":[{"path":"/bin/false"}]}"#,
        )
        .unwrap();
        s.hooks = Some(hooks);
        let r = s.cleanup_record();
        assert_eq!((r.pid, r.start_time, r.phase), (42, 7, Phase::Creating));
        assert_eq!(r.cgroup_path, "/berth/c");
        assert!(r.process.is_none() && r.namespaces.is_empty());
        let h = r.hooks.unwrap();
        assert_eq!(h.poststop().as_ref().unwrap().len(), 1);
        assert!(h.poststart().is_none());
    }

    #[test]
    fn no_pid_yet() {
        assert_eq!(state(0, Phase::Creating).status(), Status::Creating);
        assert_eq!(state(0, Phase::Created).status(), Status::Stopped);
    }

    #[test]
    fn oci_json_has_runc_fields_and_no_pid_when_stopped() {
        let s = state(1234567, Phase::Started);
        let v: serde_json::Value = serde_json::from_str(&s.oci(Status::Stopped).json()).unwrap();
        assert_eq!(v["status"], "stopped");
        assert_eq!(v["pid"], 0);
        assert_eq!(v["ociVersion"], crate::config::SPEC_VERSION);
        assert!(v.get("annotations").is_none());
        assert_eq!(v["owner"], "");
    }
}
