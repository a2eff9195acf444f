//! linux.intelRdt on the resctrl filesystem (Documentation/filesystems/
//! resctrl.rst), as the runtime-spec says: the container's group is
//! closID's (`/` the root group) or, without one, a group named after the
//! container that berth makes and delete removes; l3CacheSchema, then
//! memBwSchema, then each schemata line are written to its `schemata` file,
//! one write per line (the kernel takes a line at a time and says what it
//! refused in info/last_cmd_status); the process goes into its `tasks`.
//! enableMonitoring makes `mon_groups/ID` in that group, removed at delete.
//!
//! Everything that can be refused by reading (the fields, a missing
//! resctrl, a closID group that is missing or holds other schemas) is
//! refused by `plan`, before anything exists. The resctrl root is a
//! parameter (`plan_at`): the unit tests write to a directory shaped like
//! one, since these hosts have no RDT hardware.

use crate::config::ConfigError;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

const FIELD: &str = "linux.intelRdt";
/// Where the runtime-spec's hosts mount resctrl; any mount of it will do.
const DEFAULT_ROOT: &str = "/sys/fs/resctrl";

/// What create does, worked out from the config and the resctrl tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rdt {
    root: PathBuf,
    /// The group the container's processes go into.
    group: PathBuf,
    /// berth makes the group (it may exist already when closID names it).
    make_group: bool,
    /// The lines for `schemata`, in order, with the field each comes from.
    lines: Vec<(String, String)>,
    /// enableMonitoring: mon_groups/ID in the group.
    mon: Option<PathBuf>,
    /// No closID: the group is the container's own, removed at delete.
    own_group: bool,
}

/// What later commands need: exec puts its process into the groups, delete
/// removes what is the container's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RdtState {
    pub group: PathBuf,
    #[serde(default)]
    pub own_group: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mon: Option<PathBuf>,
}

impl Rdt {
    pub fn state(&self) -> RdtState {
        RdtState {
            group: self.group.clone(),
            own_group: self.own_group,
            mon: self.mon.clone(),
        }
    }
}

/// linux.intelRdt against the resctrl mounted on this host.
pub fn plan(spec: &oci_spec::runtime::Spec, id: &str) -> Result<Option<Rdt>, ConfigError> {
    let Some(rdt) = spec.linux().as_ref().and_then(|l| l.intel_rdt().as_ref()) else {
        return Ok(None);
    };
    let Some(root) = mounted_root() else {
        return Err(ConfigError::invalid(
            FIELD,
            format!("this host has no resctrl filesystem mounted at {DEFAULT_ROOT}"),
        ));
    };
    plan_at(rdt, id, &root).map(Some)
}

/// The resctrl mount of this mount namespace: /sys/fs/resctrl's if that is
/// one, else the first.
fn mounted_root() -> Option<PathBuf> {
    let text = crate::mountinfo::read().ok()?;
    let mut points: Vec<PathBuf> = crate::mountinfo::parse(&text)
        .filter(|m| m.fstype == "resctrl")
        .map(|m| m.mount_point)
        .collect();
    points.sort_by_key(|p| p != Path::new(DEFAULT_ROOT));
    points.into_iter().next()
}

/// The fields alone, for berth check and check_untrusted.
pub fn check_fields(rdt: &oci_spec::runtime::LinuxIntelRdt) -> Result<(), ConfigError> {
    schema_lines(rdt)?;
    match rdt.clos_id().as_deref() {
        Some("/") | Some("") | None => Ok(()),
        Some(c) => check_name(c, &format!("{FIELD}.closID")),
    }
}

pub fn plan_at(
    rdt: &oci_spec::runtime::LinuxIntelRdt,
    id: &str,
    root: &Path,
) -> Result<Rdt, ConfigError> {
    let lines = schema_lines(rdt)?;
    let clos = rdt.clos_id().as_deref().filter(|c| !c.is_empty());
    let (group, own_group) = match clos {
        Some("/") => (root.to_path_buf(), false),
        Some(c) => {
            check_name(c, &format!("{FIELD}.closID"))?;
            (root.join(c), false)
        }
        None => (root.join(id), true),
    };
    let exists = group.is_dir();
    if let Some(c) = clos {
        match (exists, lines.is_empty()) {
            (false, true) => {
                return Err(ConfigError::invalid(
                    format!("{FIELD}.closID"),
                    format!(
                        "there is no resctrl group {c} ({}) and no schema to make it with",
                        group.display()
                    ),
                ));
            }
            (true, false) => compare(&group, rdt)?,
            _ => {}
        }
    }
    #[allow(deprecated)]
    let monitoring = rdt.enable_monitoring().unwrap_or(false);
    Ok(Rdt {
        root: root.to_path_buf(),
        make_group: !exists || own_group,
        mon: monitoring.then(|| group.join("mon_groups").join(id)),
        group,
        lines,
        own_group,
    })
}

/// The schemata lines in the spec's order, each checked: one line, and
/// memBwSchema for the MB resource.
fn schema_lines(
    rdt: &oci_spec::runtime::LinuxIntelRdt,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut lines = Vec::new();
    if let Some(l3) = rdt.l3_cache_schema().as_ref().filter(|s| !s.is_empty()) {
        lines.push((format!("{FIELD}.l3CacheSchema"), l3.clone()));
    }
    if let Some(mb) = rdt.mem_bw_schema().as_ref().filter(|s| !s.is_empty()) {
        if !mb.starts_with("MB:") {
            return Err(ConfigError::invalid(
                format!("{FIELD}.memBwSchema"),
                format!("{mb:?} does not start with \"MB:\""),
            ));
        }
        lines.push((format!("{FIELD}.memBwSchema"), mb.clone()));
    }
    for (i, s) in rdt.schemata().iter().flatten().enumerate() {
        lines.push((format!("{FIELD}.schemata[{i}]"), s.clone()));
    }
    for (at, line) in &lines {
        if line.contains('\n') || line.contains('\0') {
            return Err(ConfigError::invalid(at, "one line: no newline or NUL"));
        }
    }
    Ok(lines)
}

fn check_name(name: &str, at: &str) -> Result<(), ConfigError> {
    if name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\n')
        || name.contains('\0')
    {
        return Err(ConfigError::invalid(
            at,
            format!("{name:?} is not a resctrl group name (\"/\" alone is the root group)"),
        ));
    }
    Ok(())
}

/// An existing closID group must already hold the l3CacheSchema and
/// memBwSchema asked for: another container's group is not changed under
/// it. Each `domain=value` of the config is looked up in the group's line
/// for the same resource (the kernel prints every domain, padded).
fn compare(group: &Path, rdt: &oci_spec::runtime::LinuxIntelRdt) -> Result<(), ConfigError> {
    let file = group.join("schemata");
    let text = std::fs::read_to_string(&file).map_err(|e| {
        ConfigError::invalid(
            format!("{FIELD}.closID"),
            format!("read {}: {}", file.display(), crate::error::errno_text(&e)),
        )
    })?;
    let wanted = [
        ("l3CacheSchema", rdt.l3_cache_schema()),
        ("memBwSchema", rdt.mem_bw_schema()),
    ];
    for (field, want) in wanted {
        let Some(want) = want.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        if !schema_holds(&text, want) {
            return Err(ConfigError::invalid(
                format!("{FIELD}.{field}"),
                format!(
                    "{want:?} differs from the existing group's {} ({})",
                    file.display(),
                    text.trim().replace('\n', "; ")
                ),
            ));
        }
    }
    Ok(())
}

fn schema_holds(text: &str, want: &str) -> bool {
    let Some((res, domains)) = want.split_once(':') else {
        return false;
    };
    let Some(have) = text
        .lines()
        .filter_map(|l| l.trim().split_once(':'))
        .find(|(r, _)| r.trim() == res.trim())
        .map(|(_, d)| d)
    else {
        return false;
    };
    let pairs = |s: &str| -> Vec<(String, String)> {
        s.split(';')
            .filter_map(|p| p.split_once('='))
            .map(|(d, v)| {
                let v = v.trim().trim_start_matches('0').to_ascii_lowercase();
                (d.trim().to_string(), v)
            })
            .collect()
    };
    let have = pairs(have);
    pairs(domains).iter().all(|p| have.contains(p))
}

/// What `apply` made, removed on drop unless kept: a failed create leaves
/// no group behind.
pub struct Made {
    dirs: Vec<PathBuf>,
}

impl Made {
    pub fn keep(mut self) {
        self.dirs.clear();
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        for d in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Makes the groups, writes the schemata and puts `pid` (whose children
/// inherit its group) into them.
pub fn apply(rdt: Option<&Rdt>, pid: i32) -> Result<Made, ConfigError> {
    let mut made = Made { dirs: Vec::new() };
    let Some(rdt) = rdt else { return Ok(made) };
    if rdt.make_group {
        mkdir(&rdt.group, &mut made, &format!("{FIELD}.closID"))?;
    }
    if !rdt.lines.is_empty() {
        let file = rdt.group.join("schemata");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .map_err(|e| write_error(rdt, FIELD, &file, &e))?;
        for (at, line) in &rdt.lines {
            f.write_all(format!("{line}\n").as_bytes())
                .map_err(|e| write_error(rdt, at, &file, &e))?;
        }
    }
    if let Some(mon) = &rdt.mon {
        mkdir(mon, &mut made, &format!("{FIELD}.enableMonitoring"))?;
    }
    join(Some(&rdt.state()), pid)?;
    Ok(made)
}

fn mkdir(dir: &Path, made: &mut Made, at: &str) -> Result<(), ConfigError> {
    match std::fs::create_dir(dir) {
        Ok(()) => {
            made.dirs.push(dir.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // ENOSPC: no CLOSID or RMID left.
        Err(e) => Err(ConfigError::invalid(
            at,
            format!("mkdir {}: {}", dir.display(), crate::error::errno_text(&e)),
        )),
    }
}

/// The kernel's reason for a refused write, from info/last_cmd_status.
fn write_error(rdt: &Rdt, at: &str, file: &Path, e: &std::io::Error) -> ConfigError {
    let status = std::fs::read_to_string(rdt.root.join("info/last_cmd_status")).unwrap_or_default();
    let status = status.trim();
    let mut msg = format!("write {}: {}", file.display(), crate::error::errno_text(e));
    if !status.is_empty() && status != "ok" {
        msg = format!("{msg} (resctrl: {status})");
    }
    ConfigError::invalid(at, msg)
}

/// Puts `pid` into the container's group and its monitoring group: for
/// create's process and for each exec'd one.
pub fn join(state: Option<&RdtState>, pid: i32) -> Result<(), ConfigError> {
    let Some(s) = state else { return Ok(()) };
    let groups = [
        Some((&s.group, FIELD)),
        s.mon
            .as_ref()
            .map(|m| (m, "linux.intelRdt.enableMonitoring")),
    ];
    for (dir, at) in groups.into_iter().flatten() {
        let tasks = dir.join("tasks");
        std::fs::write(&tasks, pid.to_string()).map_err(|e| {
            ConfigError::invalid(
                at,
                format!(
                    "write {}: {}",
                    tasks.display(),
                    crate::error::errno_text(&e)
                ),
            )
        })?;
    }
    Ok(())
}

/// delete: the monitoring group, and the group when it is the container's
/// own (a closID group is shared and stays). Their tasks go back to the
/// parent group, as rmdir on resctrl does.
pub fn remove(state: Option<&RdtState>) {
    let Some(s) = state else { return };
    let own = s.own_group.then_some(&s.group);
    for dir in [s.mon.as_ref(), own].into_iter().flatten() {
        if let Err(e) = std::fs::remove_dir(dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            crate::logging::warn(&format!(
                "remove {}: {}",
                dir.display(),
                crate::error::errno_text(&e)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIntelRdt;

    fn rdt(json: &str) -> LinuxIntelRdt {
        serde_json::from_str(json).unwrap()
    }

    /// A directory shaped like resctrl: the root group's files, info/,
    /// and whatever groups the test adds. mkdir of a group here makes an
    /// empty directory, so `group` adds a group's files as the kernel would.
    struct Fake(tempfile::TempDir);

    impl Fake {
        fn new() -> Fake {
            let f = Fake(tempfile::tempdir().unwrap());
            std::fs::create_dir_all(f.root().join("info")).unwrap();
            std::fs::create_dir_all(f.root().join("mon_groups")).unwrap();
            std::fs::write(f.root().join("info/last_cmd_status"), "ok\n").unwrap();
            f.files(f.root());
            f
        }
        fn root(&self) -> &Path {
            self.0.path()
        }
        fn files(&self, dir: &Path) {
            std::fs::write(dir.join("schemata"), "").unwrap();
            std::fs::write(dir.join("tasks"), "").unwrap();
        }
        fn group(&self, name: &str, schemata: &str) -> PathBuf {
            let g = self.root().join(name);
            std::fs::create_dir_all(g.join("mon_groups")).unwrap();
            self.files(&g);
            std::fs::write(g.join("schemata"), schemata).unwrap();
            g
        }
        fn read(&self, rel: &str) -> String {
            std::fs::read_to_string(self.root().join(rel)).unwrap()
        }
    }

    #[test]
    fn schemas_are_written_in_the_spec_order_one_line_at_a_time() {
        let fake = Fake::new();
        // What the kernel would make at mkdir, made first (mkdir of an
        // existing group is accepted).
        fake.group("ctr1", "");
        let r = rdt(
            r#"{"l3CacheSchema":"L3:0=f","memBwSchema":"MB:0=50","schemata":["L2:0=3","L3CODE:0=1"],"enableMonitoring":true}"#,
        );
        let plan = plan_at(&r, "ctr1", fake.root()).unwrap();
        std::fs::create_dir_all(fake.root().join("ctr1/mon_groups")).unwrap();
        let made = apply(Some(&plan), 4242).unwrap();
        made.keep();
        assert_eq!(
            fake.read("ctr1/schemata"),
            "L3:0=f\nMB:0=50\nL2:0=3\nL3CODE:0=1\n"
        );
        assert_eq!(fake.read("ctr1/tasks"), "4242");
        // The monitoring group was made; a real one has its tasks file.
        assert!(fake.root().join("ctr1/mon_groups/ctr1").is_dir());
        assert_eq!(fake.read("ctr1/mon_groups/ctr1/tasks"), "4242");
        let state = plan.state();
        assert!(state.own_group);
        // resctrl's files are the kernel's, and go with rmdir; the fake's
        // must go first.
        std::fs::remove_file(fake.root().join("ctr1/mon_groups/ctr1/tasks")).unwrap();
        remove(Some(&state));
        assert!(!fake.root().join("ctr1/mon_groups/ctr1").exists());
    }

    #[test]
    fn a_group_berth_made_is_removed_when_create_fails() {
        let fake = Fake::new();
        let plan = plan_at(&rdt(r#"{"l3CacheSchema":"L3:0=f"}"#), "ctr2", fake.root()).unwrap();
        // An empty directory has no schemata file: the write fails, as a
        // refused one would, and the group goes.
        let e = apply(Some(&plan), 1).err().unwrap().to_string();
        assert!(e.starts_with("config.json: linux.intelRdt: write "), "{e}");
        assert!(!fake.root().join("ctr2").exists());
    }

    #[test]
    fn the_kernels_reason_is_in_the_error() {
        let fake = Fake::new();
        let g = fake.group("ctr3", "");
        std::fs::write(
            fake.root().join("info/last_cmd_status"),
            "bitmap not contiguous\n",
        )
        .unwrap();
        // A directory in the file's place refuses the write.
        std::fs::remove_file(g.join("schemata")).unwrap();
        std::fs::create_dir(g.join("schemata")).unwrap();
        let plan = plan_at(&rdt(r#"{"schemata":["L3:0=5"]}"#), "ctr3", fake.root()).unwrap();
        let e = apply(Some(&plan), 1).err().unwrap().to_string();
        assert!(e.contains("(resctrl: bitmap not contiguous)"), "{e}");
    }

    #[test]
    fn a_closid_group_is_shared_checked_and_kept() {
        let fake = Fake::new();
        fake.group("gold", "    L3:0=0ff;1=3ff\n    MB:0=100;1=100\n");
        let r = rdt(r#"{"closID":"gold","l3CacheSchema":"L3:0=ff;1=3ff","enableMonitoring":true}"#);
        let plan = plan_at(&r, "ctr4", fake.root()).unwrap();
        apply(Some(&plan), 7).unwrap().keep();
        assert_eq!(fake.read("gold/tasks"), "7");
        let state = plan.state();
        assert!(!state.own_group);
        std::fs::remove_file(fake.root().join("gold/mon_groups/ctr4/tasks")).unwrap();
        remove(Some(&state));
        assert!(fake.root().join("gold").is_dir());
        assert!(!fake.root().join("gold/mon_groups/ctr4").exists());

        let r = rdt(r#"{"closID":"gold","l3CacheSchema":"L3:0=f;1=3ff"}"#);
        let e = plan_at(&r, "ctr4", fake.root()).unwrap_err().to_string();
        assert!(
            e.starts_with("config.json: linux.intelRdt.l3CacheSchema: \"L3:0=f;1=3ff\" differs"),
            "{e}"
        );
        let r = rdt(r#"{"closID":"silver"}"#);
        let e = plan_at(&r, "ctr4", fake.root()).unwrap_err().to_string();
        assert!(
            e.starts_with("config.json: linux.intelRdt.closID: there is no resctrl group silver"),
            "{e}"
        );
        // The root group.
        let plan = plan_at(&rdt(r#"{"closID":"/"}"#), "ctr4", fake.root()).unwrap();
        apply(Some(&plan), 8).unwrap().keep();
        assert_eq!(fake.read("tasks"), "8");
    }

    /// delete removes the container's own group, never a closID one.
    #[test]
    fn only_the_containers_own_group_is_removed() {
        let fake = Fake::new();
        let own = fake.root().join("ctr5");
        let shared = fake.root().join("gold");
        std::fs::create_dir(&own).unwrap();
        std::fs::create_dir(&shared).unwrap();
        for (group, own_group) in [(&own, true), (&shared, false)] {
            remove(Some(&RdtState {
                group: group.clone(),
                own_group,
                mon: None,
            }));
        }
        assert!(!own.exists());
        assert!(shared.exists());
    }

    #[test]
    fn fields_are_checked() {
        let fake = Fake::new();
        for (json, at) in [
            (r#"{"memBwSchema":"L3:0=1"}"#, "linux.intelRdt.memBwSchema"),
            (
                r#"{"schemata":["L3:0=1","MB:0=1\nL2:0=1"]}"#,
                "linux.intelRdt.schemata[1]",
            ),
            (
                r#"{"closID":"../x","schemata":["L3:0=1"]}"#,
                "linux.intelRdt.closID",
            ),
            (
                r#"{"closID":"..","schemata":["L3:0=1"]}"#,
                "linux.intelRdt.closID",
            ),
        ] {
            let e = plan_at(&rdt(json), "c", fake.root())
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("config.json: {at}: ")),
                "{json}: {e}"
            );
            assert!(check_fields(&rdt(json)).is_err(), "{json}");
        }
    }
}
