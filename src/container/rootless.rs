//! Rootless berth: what changes when berth runs without the host's root,
//! decided as runc 1.1.5 decides it (rootless_linux.go, main.go), so that a
//! client that drives both sees the same thing.

use super::ContainerError;
use super::state::State;
use crate::cgroups::{self, CgroupError, CgroupManager};
use crate::error::{SysContext, SysError};
use oci_spec::runtime::LinuxResources;
use std::path::{Path, PathBuf};

/// The state root of a root berth, and of a rootless one without
/// XDG_RUNTIME_DIR.
pub const SYSTEM_ROOT: &str = "/run/berth";

/// Rootless as runc means it: the effective uid is not 0, or berth runs in
/// a user namespace that is not the initial one (rootless podman runs the
/// runtime as uid 0 of a namespace of its own), where the host's root
/// powers are not berth's either.
pub fn rootless() -> bool {
    rustix::process::geteuid().as_raw() != 0 || in_user_namespace()
}

/// Whether /proc/self/uid_map is anything but the initial namespace's
/// identity map of every id ("0 0 4294967295"). A kernel without user
/// namespaces has no such file: that is the initial namespace.
pub fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| !is_identity_map(&m))
}

fn is_identity_map(text: &str) -> bool {
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|f: &Vec<&str>| !f.is_empty())
        .collect();
    matches!(lines.as_slice(), [f] if f.as_slice() == ["0", "0", "4294967295"])
}

/// The state root when --root is not given, and whether it is the one in
/// XDG_RUNTIME_DIR (which `prepare_xdg_root` makes). runc honours
/// XDG_RUNTIME_DIR when it is set and non-empty and the caller is rootless,
/// except uid 0 in a user namespace whose USER is root (a root that only
/// looks rootless); everyone else, including a rootless caller with no
/// XDG_RUNTIME_DIR, gets the system's directory (and an error there if it
/// cannot write it, see `unwritable_root`).
pub fn default_root() -> (PathBuf, bool) {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    match xdg {
        Some(dir) if honour_xdg(std::env::var_os("USER").as_deref()) => {
            (Path::new(&dir).join("berth"), true)
        }
        _ => (SYSTEM_ROOT.into(), false),
    }
}

fn honour_xdg(user: Option<&std::ffi::OsStr>) -> bool {
    if rustix::process::geteuid().as_raw() != 0 {
        return true;
    }
    in_user_namespace() && user.is_none_or(|u| u != "root")
}

/// Makes $XDG_RUNTIME_DIR/berth, 0700 and sticky: the XDG base directory
/// specification prunes files there that lack the sticky bit (runc does
/// the same for its own directory, on every command).
pub fn prepare_xdg_root(root: &Path) -> Result<(), SysError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let why = |op, e| {
        SysError::new(
            op,
            format!(
                "{} (the state directory in $XDG_RUNTIME_DIR, which must be writable by uid {}; or give --root)",
                root.display(),
                rustix::process::geteuid().as_raw()
            ),
            e,
        )
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| why("create", e))?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o1700))
        .map_err(|e| why("chmod", e))
}

/// The error for a state root berth may not write: it names the directory
/// and, for a rootless caller, where its state could go instead.
pub fn unwritable_root(root: &Path, e: std::io::Error) -> SysError {
    let what = if rootless() {
        format!(
            "{}: the state directory is not writable by uid {} (rootless: set XDG_RUNTIME_DIR or give --root a directory of your own)",
            root.display(),
            rustix::process::geteuid().as_raw()
        )
    } else {
        format!("{}: the state directory is not writable", root.display())
    };
    SysError::new("create", what, e)
}

/// The container's cgroup `cgroup` (at `path`), made for create. With `rootless_cgroups`
/// (--rootless, or its auto) a cgroup berth may not make is no error: the
/// container then has none and runs in berth's own cgroups, as runc's
/// rootless manager ignores permission errors. That is every rootless
/// container on cgroup v1 and on a v2 host that delegates nothing.
pub fn make_cgroup(
    cgroup: cgroups::Manager,
    path: &str,
    id: &str,
    rootless_cgroups: bool,
) -> Result<Option<cgroups::Manager>, ContainerError> {
    let others = cgroup.existing()?;
    if others > 0 {
        crate::logging::warn(&format!(
            "container {id}: cgroup {path} is not empty: {others} process(es) found that are not the container's; delete leaves them there"
        ));
    }
    match cgroup.create() {
        Ok(()) => Ok(Some(cgroup)),
        Err(CgroupError::Sys(e))
            if rootless_cgroups
                && matches!(e.errno(), Some(libc::EACCES | libc::EPERM | libc::EROFS)) =>
        {
            // A v1 hierarchy made before the one refused is not left behind.
            let _ = cgroup.destroy();
            crate::logging::debug(&format!("container {id}: rootless, without a cgroup ({e})"));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Without a cgroup nothing can hold a limit, and runc 1.1.5's rootless
/// create fails on any that the config sets, naming the first controller
/// in its order: "cannot set memory limit: container could not join or
/// create cgroup" (measured here, run as an ordinary user, with
/// linux.resources.memory.limit, pids.limit, cpu.shares, cpu.cpus,
/// blockIO.weight). Device rules are the exception: runc ignores them
/// when rootless (its manager never expects them to work), and so does
/// berth. Checked before anything exists, where runc fails after the clone.
pub fn limits_without_cgroup(r: &LinuxResources) -> Result<(), ContainerError> {
    let v = serde_json::to_value(r).expect("resources serialise");
    let set = |key: &str, fields: &[&str]| match &v[key] {
        serde_json::Value::Object(o) => o.iter().any(|(k, val)| {
            !val.is_null()
                && (fields.is_empty() || fields.contains(&k.as_str()))
                && k != "checkBeforeUpdate"
        }),
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Null => false,
        _ => true,
    };
    let cpu = [
        "shares",
        "quota",
        "burst",
        "period",
        "realtimeRuntime",
        "realtimePeriod",
        "idle",
    ];
    // runc's v1 subsystems in the order it sets them.
    let controllers: [(&str, bool); 9] = [
        ("cpuset", set("cpu", &["cpus", "mems"])),
        ("memory", set("memory", &[])),
        ("cpu", set("cpu", &cpu)),
        ("pids", set("pids", &[])),
        ("blkio", set("blockIO", &[])),
        ("hugetlb", set("hugepageLimits", &[])),
        ("net_cls", v["network"]["classID"].is_number()),
        ("net_prio", set("network", &["priorities"])),
        ("rdma", set("rdma", &[])),
    ];
    let unified = set("unified", &[]);
    match controllers.iter().find(|(_, on)| *on) {
        Some((name, _)) => Err(ContainerError::NoCgroupLimit(name.to_string())),
        None if unified => Err(ContainerError::NoCgroupLimit("unified".into())),
        None => Ok(()),
    }
}

/// process.oomScoreAdj for a rootless berth: its own, before the clone,
/// which the container's process inherits, as runc 1.1.5's nsexec writes
/// /proc/self/oom_score_adj (a user may not write another process's once
/// that process is in a user namespace of its own). Raising it is anyone's
/// right; lowering it below what the user started with takes
/// CAP_SYS_RESOURCE, and fails here as runc's create fails. berth is not
/// dumpable (main.rs), which makes its /proc files root's: dumpable for
/// the write alone, as runc writes it before it makes itself not dumpable.
pub fn own_oom_score_adj(adj: i32) -> Result<(), ContainerError> {
    use rustix::process::{DumpableBehavior, set_dumpable_behavior};
    let f = "/proc/self/oom_score_adj";
    let now = std::fs::read_to_string(f).unwrap_or_default();
    set_dumpable_behavior(DumpableBehavior::Dumpable).sys("prctl", "PR_SET_DUMPABLE")?;
    let written = std::fs::write(f, adj.to_string());
    set_dumpable_behavior(DumpableBehavior::NotDumpable).sys("prctl", "PR_SET_DUMPABLE")?;
    written.map_err(|e| {
        ContainerError::Usage(format!(
            "process.oomScoreAdj: write {adj} to {f}: {} (rootless: an ordinary user may raise oom_score_adj, here {}, but not lower it, which takes CAP_SYS_RESOURCE)",
            crate::error::errno_text(&e),
            now.trim()
        ))
    })
}

/// linux.resources on the container's cgroup. A rootless berth cannot
/// attach a device filter (a cgroup's eBPF program needs the host's
/// CAP_BPF and CAP_NET_ADMIN), and runc 1.1.5 ignores its device errors
/// when rootless (fs2's Set): where the whole fails, the limits alone are
/// applied again, and only their error counts.
pub fn apply_resources(
    cg: &cgroups::Manager,
    r: &LinuxResources,
    rules: &[cgroups::DeviceRule],
    rootless: bool,
) -> Result<(), ContainerError> {
    match cg.apply(r, rules) {
        Err(e) if rootless && !rules.is_empty() => {
            crate::logging::debug(&format!("rootless: device rules not applied ({e})"));
            Ok(cg.apply(r, &[])?)
        }
        other => Ok(other?),
    }
}

/// What the container's `cgroup` mount shows without a cgroup of its own:
/// berth's cgroups, the ones the container's processes are in (runc binds
/// the cgroup its init finds in /proc/self/cgroup, in each hierarchy).
pub fn own_cgroup_views() -> Result<Vec<cgroups::View>, ContainerError> {
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| SysError::new("read", "/proc/self/cgroup", e))?;
    let mut views = cgroups::manager("/")?.views();
    for v in &mut views {
        if let Some(rel) = own_path(&own, v) {
            v.host_path = v.host_path.join(rel.trim_start_matches('/'));
        }
    }
    Ok(views)
}

/// The path of a /proc/self/cgroup line whose controllers are the view's
/// mount options ("cpu", "name=systemd"; none for the unified tree).
fn own_path<'a>(own: &'a str, v: &cgroups::View) -> Option<&'a str> {
    let mut want: Vec<String> = v
        .options
        .iter()
        .filter(|(k, _)| k != "none")
        .map(|(k, val)| match val {
            Some(val) => format!("{k}={val}"),
            None => k.clone(),
        })
        .collect();
    want.sort();
    own.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctl, path) = (f.next()?, f.next()?, f.next()?);
        let mut have: Vec<String> = ctl
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        have.sort();
        let unified = v.fstype == "cgroup2";
        ((unified && have.is_empty()) || (!unified && have == want)).then_some(path)
    })
}

/// The container's cgroup, or None for one created without (rootless).
pub fn cgroup_of(state: &State) -> Result<Option<cgroups::Manager>, ContainerError> {
    if state.cgroup_path.is_empty() {
        return Ok(None);
    }
    Ok(Some(state.cgroup()?))
}

/// The cgroup an operation cannot do without (pause, ps, events, update).
pub fn need_cgroup(state: &State, op: &'static str) -> Result<cgroups::Manager, ContainerError> {
    cgroup_of(state)?.ok_or_else(|| ContainerError::NoCgroup {
        id: state.id.clone(),
        op,
    })
}

/// Every process in the pid namespace of `pid` (which must be its init):
/// a container without a cgroup is known by its pid namespace. Processes
/// berth may not inspect are not the caller's, so not its container's.
pub fn pid_namespace_members(pid: i32) -> Vec<i32> {
    let ns = |p: &str| {
        std::fs::metadata(format!("/proc/{p}/ns/pid"))
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
    };
    let Some(init_ns) = ns(&pid.to_string()) else {
        return Vec::new();
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![pid];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| ns(&p.to_string()) == Some(init_ns))
        .collect()
}

/// Writes the maps of the user namespace `pid` is in, as runc 1.1.5 does.
/// A rootless berth may write one line mapping its own euid (egid) itself,
/// and a gid map only once setgroups says "deny" (the kernel's rule: else
/// the container could drop a group that denies the user access). Any
/// other map (ranges from /etc/subuid and /etc/subgid) is written by the
/// setuid helpers newuidmap and newgidmap (package uidmap), which check it
/// against those files; setgroups then stays allowed, as in runc.
pub fn write_id_maps(
    pid: i32,
    uid_map: &str,
    gid_map: &str,
    rootless: bool,
) -> Result<(), ContainerError> {
    if !rootless {
        return Ok(crate::syscall::write_id_maps(pid, uid_map, gid_map)?);
    }
    let egid = rustix::process::getegid().as_raw();
    if only_own(gid_map, egid) {
        let f = format!("/proc/{pid}/setgroups");
        std::fs::write(&f, "deny").map_err(|e| SysError::new("write", &f, e))?;
    }
    write_map(pid, "uid_map", uid_map, "newuidmap")?;
    write_map(pid, "gid_map", gid_map, "newgidmap")
}

/// Whether a map is the one line "N id 1" for this `id`.
fn only_own(map: &str, id: u32) -> bool {
    let lines: Vec<Vec<&str>> = map
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|f: &Vec<&str>| !f.is_empty())
        .collect();
    let id = id.to_string();
    matches!(lines.as_slice(), [f] if matches!(f.as_slice(), [_, h, "1"] if *h == id))
}

/// One map written directly, or by `tool` where the kernel refuses it.
fn write_map(pid: i32, file: &str, map: &str, tool: &str) -> Result<(), ContainerError> {
    let path = format!("/proc/{pid}/{file}");
    match std::fs::write(&path, map) {
        Ok(()) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
        Err(e) => return Err(SysError::new("write", &path, e).into()),
    }
    let field = if file == "uid_map" {
        "linux.uidMappings"
    } else {
        "linux.gidMappings"
    };
    let fail = |msg: String| ContainerError::Usage(format!("{field}: {msg}"));
    let out = std::process::Command::new(tool)
        .env_clear()
        .arg(pid.to_string())
        .args(map.split_whitespace())
        .output()
        .map_err(|e| {
            fail(format!(
                "a rootless berth maps ids other than its own through {tool} (package uidmap): {}",
                crate::error::errno_text(&e)
            ))
        })?;
    if !out.status.success() {
        return Err(fail(format!(
            "{tool} refused the map (ranges must be the user's in /etc/sub{}): {}",
            &file[..3],
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_map_is_the_initial_namespace() {
        assert!(is_identity_map("         0          0 4294967295\n"));
        assert!(!is_identity_map("         0       1001          1\n"));
        assert!(!is_identity_map("0 0 4294967294\n"));
        assert!(!is_identity_map("0 1001 1\n1 100000 65536\n"));
        assert!(!is_identity_map(""));
    }

    #[test]
    fn limits_need_a_cgroup() {
        let r = |j: &str| serde_json::from_str::<LinuxResources>(j).unwrap();
        let err = |j: &str| limits_without_cgroup(&r(j)).unwrap_err().to_string();
        limits_without_cgroup(&r("{}")).unwrap();
        limits_without_cgroup(&r(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#)).unwrap();
        limits_without_cgroup(&r(r#"{"memory":{}}"#)).unwrap();
        assert!(err(r#"{"memory":{"limit":100000000}}"#).contains("cannot set memory limit"));
        assert!(err(r#"{"pids":{"limit":10},"memory":{"swappiness":1}}"#).contains("memory"));
        assert!(err(r#"{"cpu":{"shares":512,"cpus":"0"}}"#).contains("cpuset"));
        assert!(err(r#"{"cpu":{"quota":5000}}"#).contains("cannot set cpu limit"));
        assert!(err(r#"{"blockIO":{"weight":100}}"#).contains("blkio"));
    }

    #[test]
    fn own_cgroup_lines() {
        let own = "9:name=systemd:/a\n4:memory:/m/x\n1:cpu,cpuacct:/c\n0::/u\n";
        let view = |fstype, opts: &[(&str, Option<&str>)]| cgroups::View {
            name: String::new(),
            host_path: "/".into(),
            fstype,
            options: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
        };
        assert_eq!(
            own_path(own, &view("cgroup", &[("memory", None)])),
            Some("/m/x")
        );
        assert_eq!(
            own_path(own, &view("cgroup", &[("cpuacct", None), ("cpu", None)])),
            Some("/c")
        );
        assert_eq!(
            own_path(
                own,
                &view("cgroup", &[("none", None), ("name", Some("systemd"))])
            ),
            Some("/a")
        );
        assert_eq!(own_path(own, &view("cgroup2", &[])), Some("/u"));
        assert_eq!(own_path(own, &view("cgroup", &[("pids", None)])), None);
    }

    #[test]
    fn own_id_maps() {
        assert!(only_own("0 1001 1\n", 1001));
        assert!(only_own("5 1001 1", 1001));
        assert!(!only_own("0 1001 2\n", 1001));
        assert!(!only_own("0 1001 1\n1 100000 65536\n", 1001));
        assert!(!only_own("0 1002 1\n", 1001));
    }
}
