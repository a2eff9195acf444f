//! The differential harness: one scenario, run once with runc (Debian's
//! 1.1.5, the reference where the runtime-spec is silent) and once with
//! berth, each in a directory of its own; what each run observed is
//! normalised and compared key by key.
//!
//! A scenario is a function of a `Case`: it drives the runtime with
//! `c.rt(..)`, and records what a user or client would check with
//! `c.see*(..)`. The two runs must agree on every key, except the keys the
//! scenario lists as deliberate differences (`Differ`): there berth must show
//! exactly the value given, runc something else, and the reason is printed.
//!
//! Normalised, and nothing else: container ids (`<id>`, `<id:name>`), the
//! test's own directory (`<dir>`), pids (`<pid>`), RFC 3339 times
//! (`<time>`) and the spec version a runtime states (`<version>`).

#![allow(dead_code)]

use crate::common::user::TestUser;
use crate::common::{self, Out, cgroup_hierarchies};
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rt {
    Runc,
    Berth,
}

impl Rt {
    pub fn name(self) -> &'static str {
        match self {
            Rt::Runc => "runc",
            Rt::Berth => "berth",
        }
    }

    pub fn bin(self) -> String {
        match self {
            Rt::Runc => std::env::var("RUNC").unwrap_or_else(|_| "/usr/sbin/runc".into()),
            Rt::Berth => common::berth_bin().into(),
        }
    }
}

/// A difference from runc that berth keeps on purpose: at `key` berth shows
/// `berth`, runc something else, because of `why` (the spec's words, or
/// why runc's behaviour is unsafe).
pub struct Differ {
    pub key: &'static str,
    pub berth: &'static str,
    pub why: &'static str,
}

/// The parent of every cgroup the scenarios make, in each hierarchy.
pub const CGROUP_PARENT: &str = "berth-compat";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One runtime's run of a scenario: its own bundle (busybox, runc's default
/// config without a terminal, cgroupsPath under CGROUP_PARENT), its own
/// --root, and what it has seen so far.
pub struct Case {
    pub rt: Rt,
    _tmp: tempfile::TempDir,
    /// The test's own directory (normalised to `<dir>`).
    pub dir: PathBuf,
    pub bundle: PathBuf,
    pub root: PathBuf,
    /// The first container id; `new_id` makes more.
    pub id: String,
    ids: Vec<(String, String)>,
    seen: BTreeMap<String, String>,
    order: Vec<String>,
    /// A rootless case's user: every runtime command runs as it.
    pub user: Option<Arc<TestUser>>,
}

impl Case {
    fn new(rt: Rt, user: Option<Arc<TestUser>>) -> Case {
        let tmp = tempfile::Builder::new()
            .prefix("berth-compat-")
            .tempdir()
            .unwrap();
        let dir = tmp.path().to_path_buf();
        let bundle = dir.join("bundle");
        let root = dir.join("state");
        std::fs::create_dir_all(&bundle).unwrap();
        let mut c = Case {
            rt,
            _tmp: tmp,
            dir,
            bundle,
            root,
            id: String::new(),
            ids: vec![],
            seen: BTreeMap::new(),
            order: vec![],
            user,
        };
        if let Some(u) = &c.user {
            // The user's own directory, and the runtime's own spec
            // --rootless, as the user made it (hostname aside, they agree:
            // tests/integration/rootless.rs).
            common::make_rootfs(&c.bundle.join("rootfs"));
            std::fs::set_permissions(&c.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            u.chown_all(&c.dir);
            c.rt(&["spec", "--rootless", "--bundle", "{bundle}"]).ok();
            c.id = c.new_id("");
            c.config(|v| {
                v["process"]["terminal"] = false.into();
                v["process"]["args"] = serde_json::json!(["true"]);
                v["hostname"] = "compat".into();
            });
            return c;
        }
        common::make_bundle(&c.bundle);
        c.id = c.new_id("");
        let cg = format!("/{CGROUP_PARENT}/{}", c.id);
        c.config(|v| {
            v["process"]["terminal"] = false.into();
            v["process"]["args"] = serde_json::json!(["true"]);
            v["linux"]["cgroupsPath"] = cg.into();
        });
        c
    }

    /// A container id unique to this run, normalised to `<id:name>` (`<id>`
    /// for the first); deleted with --force when the case ends.
    pub fn new_id(&mut self, name: &str) -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let id = format!("compat-{}-{}-{n}", self.rt.name(), std::process::id());
        let label = if name.is_empty() {
            "<id>".to_string()
        } else {
            format!("<id:{name}>")
        };
        self.ids.push((id.clone(), label));
        id
    }

    /// Edits the bundle's config.json.
    pub fn config(&self, f: impl FnOnce(&mut Value)) {
        let file = self.bundle.join("config.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&file, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }

    /// The process's arguments: `sh -c script`.
    pub fn sh(&self, script: &str) {
        self.config(|v| v["process"]["args"] = serde_json::json!(["sh", "-c", script]));
    }

    /// The runtime's command with --root set; `{id}` and `{bundle}` in
    /// `args` are replaced.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let root = self.root.to_str().unwrap().to_string();
        let mut all = vec!["--root", &root];
        all.extend_from_slice(args);
        self.bare(&all)
    }

    /// The runtime's command without --root (for global flags of the
    /// scenario's own), `{id}` and `{bundle}` replaced.
    pub fn bare(&self, args: &[&str]) -> Command {
        let args: Vec<String> = args.iter().map(|a| self.fill(a)).collect();
        if let Some(u) = &self.user {
            // berth as copied where the user can reach it.
            let bin = match self.rt {
                Rt::Runc => self.rt.bin(),
                Rt::Berth => u.bin.join("berth").to_str().unwrap().to_string(),
            };
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            return u.cmd(&bin, &args);
        }
        let mut c = Command::new(self.rt.bin());
        // What a runtime makes relative to its cwd (runc's checkpoint makes
        // ./checkpoint) stays in the test's directory.
        c.args(args).stdin(Stdio::null()).current_dir(&self.dir);
        c
    }

    fn fill(&self, a: &str) -> String {
        a.replace("{id}", &self.id)
            .replace("{bundle}", self.bundle.to_str().unwrap())
            .replace("{dir}", self.dir.to_str().unwrap())
    }

    /// Runs the runtime with --root and `args`; killed after 30 s.
    pub fn rt(&self, args: &[&str]) -> Out {
        common::run_with_timeout(self.cmd(args), Duration::from_secs(30))
    }

    /// Runs any command, killed after 30 s.
    pub fn exec(&self, cmd: Command) -> Out {
        common::run_with_timeout(cmd, Duration::from_secs(30))
    }

    /// A console socket at `name` in the test's directory: the terminal
    /// master a runtime sends there is read until the terminal closes (or
    /// 30 s pass); the receiver gives what was read, without `\r`.
    pub fn console_socket(&self, name: &str) -> (String, std::sync::mpsc::Receiver<String>) {
        let path = self.dir.join(name);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let Ok((conn, _)) = listener.accept() else {
                return;
            };
            let (_, master) = common::tty::recv_fd(&conn);
            let mut master = std::fs::File::from(master);
            let _ = tx.send(common::tty::read_all(&mut master).replace('\r', ""));
        });
        (path.to_str().unwrap().to_string(), rx)
    }

    /// Records a value under `key`.
    pub fn see(&mut self, key: &str, value: impl std::fmt::Display) {
        let v = self.normalise(&value.to_string());
        if self.seen.insert(key.to_string(), v).is_none() {
            self.order.push(key.to_string());
        }
    }

    /// Records a command's exit status (`key.exit`), its stdout
    /// (`key.stdout`), and for each phrase whether stderr has it
    /// (`key.stderr has "phrase"`).
    pub fn see_out(&mut self, key: &str, out: &Out, phrases: &[&str]) {
        self.see(&format!("{key}.exit"), out.code);
        self.see(&format!("{key}.stdout"), &out.stdout);
        for p in phrases {
            self.see(&format!("{key}.stderr has {p:?}"), out.stderr.contains(p));
        }
    }

    /// Records the exit status and the phrases only (stdout varies).
    pub fn see_exit(&mut self, key: &str, out: &Out, phrases: &[&str]) {
        self.see(&format!("{key}.exit"), out.code);
        for p in phrases {
            self.see(&format!("{key}.stderr has {p:?}"), out.stderr.contains(p));
        }
    }

    /// Records every field of `state ID`, normalised, and its exit status.
    pub fn see_state(&mut self, key: &str, id: &str) {
        let out = self.rt(&["state", id]);
        self.see(&format!("{key}.exit"), out.code);
        if out.code == 0 {
            self.see_json_text(key, &out.stdout);
        }
    }

    /// Records a JSON document as printed: the keys of each object in the
    /// order printed (which a parsed Value would lose), then its fields.
    pub fn see_json_text(&mut self, key: &str, text: &str) {
        self.see(&format!("{key} key order"), key_order(text).join(" | "));
        let v: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("{}: {key}: not JSON ({e}): {text}", self.rt.name()));
        self.see_json(key, &v);
    }

    /// Records a JSON object field by field (its key order too).
    pub fn see_json(&mut self, key: &str, v: &Value) {
        match v {
            Value::Object(m) => {
                self.see(
                    &format!("{key} keys"),
                    m.keys().cloned().collect::<Vec<_>>().join(","),
                );
                for (k, f) in m {
                    self.see_json(&format!("{key}.{k}"), f);
                }
            }
            Value::Array(a) => {
                self.see(&format!("{key} len"), a.len());
                for (i, f) in a.iter().enumerate() {
                    self.see_json(&format!("{key}[{i}]"), f);
                }
            }
            _ if key.ends_with(".pid") => self.see(
                key,
                if v.as_i64().unwrap_or(0) > 0 {
                    "<pid>".into()
                } else {
                    v.to_string()
                },
            ),
            _ if key.ends_with(".ociVersion") => self.see(
                key,
                if v.is_string() {
                    "<version>".into()
                } else {
                    v.to_string()
                },
            ),
            _ => self.see(key, v),
        }
    }

    /// Records the messages of a `--log` file in runc's JSON format: each
    /// line's level, and whether the error lines have each phrase.
    pub fn see_log(&mut self, key: &str, file: &Path, phrases: &[&str]) {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let mut errors = String::new();
        let mut json = true;
        for line in text.lines() {
            match serde_json::from_str::<Value>(line) {
                Ok(v) if v["level"] == "error" => errors.push_str(v["msg"].as_str().unwrap_or("")),
                Ok(v) => json &= v.get("level").is_some() && v.get("time").is_some(),
                Err(_) => json = false,
            }
        }
        self.see(&format!("{key} is JSON lines"), json);
        self.see(&format!("{key} has an error"), !errors.is_empty());
        for p in phrases {
            self.see(&format!("{key} error has {p:?}"), errors.contains(p));
        }
    }

    /// Records what is left on the host of this case's containers: state
    /// directories, cgroups, mounts under the test's directory, and
    /// processes whose root is in it.
    pub fn see_host(&mut self, key: &str) {
        let left = leftovers(
            &self.root,
            &self.dir,
            &self.ids.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>(),
        );
        self.see(
            key,
            if left.is_empty() {
                "nothing".into()
            } else {
                left.join("; ")
            },
        );
    }

    fn normalise(&self, s: &str) -> String {
        let mut s = s.replace(self.dir.to_str().unwrap(), "<dir>");
        // Longest first: an id is never a prefix of a longer one's label.
        let mut ids = self.ids.clone();
        ids.sort_by_key(|(i, _)| std::cmp::Reverse(i.len()));
        for (id, label) in &ids {
            s = s.replace(id.as_str(), label);
        }
        normalise_times(&s)
    }

    /// What a client does at the end: `delete --force` of every id.
    fn cleanup(&self) {
        for (id, _) in &self.ids {
            let _ = common::run_with_timeout(
                self.cmd(&["delete", "--force", id]),
                Duration::from_secs(30),
            );
        }
    }
}

/// The client's cleanup, then whatever the runtime left behind is removed
/// (the parent CGROUP_PARENT stays for other tests; make test removes it).
impl Drop for Case {
    fn drop(&mut self) {
        self.cleanup();
        for (id, _) in &self.ids {
            for h in cgroup_hierarchies() {
                let d = h.join(CGROUP_PARENT).join(id);
                if d.exists() {
                    remove_cgroup(&d);
                }
            }
        }
    }
}

/// Removes a cgroup and the ones below it, deepest first.
pub fn remove_cgroup(d: &Path) {
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup(&e.path());
            }
        }
    }
    for _ in 0..100 {
        if std::fs::remove_dir(d).is_ok() || !d.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn leftovers(root: &Path, dir: &Path, ids: &[String]) -> Vec<String> {
    let mut left = Vec::new();
    for id in ids {
        if root.join(id).exists() {
            left.push(format!("state of {id}"));
        }
        for h in cgroup_hierarchies() {
            if h.join(CGROUP_PARENT).join(id).exists() {
                left.push(format!(
                    "cgroup {}",
                    h.join(CGROUP_PARENT).join(id).display()
                ));
            }
        }
    }
    let d = dir.to_str().unwrap();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for l in info.lines() {
        if let Some(m) = l.split(' ').nth(4).filter(|m| m.starts_with(d)) {
            left.push(format!("mount {m}"));
        }
    }
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(r) = std::fs::read_link(p.path().join("root"))
            && r.starts_with(dir)
        {
            left.push(format!("process with root {}", r.display()));
        }
    }
    left
}

/// The keys of every object in a JSON text, object by object in the order
/// the objects open, each as the keys joined by commas.
fn key_order(text: &str) -> Vec<String> {
    let mut objects: Vec<Vec<String>> = Vec::new();
    let mut open: Vec<Option<usize>> = Vec::new();
    let mut chars = text.chars().peekable();
    let mut last_string = None;
    while let Some(ch) = chars.next() {
        match ch {
            '"' => {
                let mut s = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => s.extend(chars.next()),
                        '"' => break,
                        c => s.push(c),
                    }
                }
                last_string = Some(s);
                continue;
            }
            '{' => {
                objects.push(Vec::new());
                open.push(Some(objects.len() - 1));
            }
            '[' => open.push(None),
            '}' | ']' => {
                open.pop();
            }
            ':' => {
                if let (Some(Some(i)), Some(k)) = (open.last(), last_string.take()) {
                    objects[*i].push(k);
                }
            }
            _ => {}
        }
        if !ch.is_whitespace() {
            last_string = None;
        }
    }
    objects.into_iter().map(|o| o.join(",")).collect()
}

/// RFC 3339 times (as runc and berth print them) become `<time>`.
fn normalise_times(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if let Some(n) = time_len(&b[i..]) {
            out.push_str("<time>");
            i += n;
        } else {
            let ch = s[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The length of an RFC 3339 time at the start of `b`: 2026-12-06T17:53:56
/// and an optional fraction and zone.
fn time_len(b: &[u8]) -> Option<usize> {
    let shape = b"dddd-dd-ddTdd:dd:dd";
    if b.len() < shape.len()
        || !shape.iter().zip(b).all(|(s, c)| {
            if *s == b'd' {
                c.is_ascii_digit()
            } else {
                s == c
            }
        })
    {
        return None;
    }
    let mut n = shape.len();
    if b.get(n) == Some(&b'.') {
        n += 1;
        while b.get(n).is_some_and(|c| c.is_ascii_digit()) {
            n += 1;
        }
    }
    match b.get(n) {
        Some(b'Z') => n += 1,
        Some(b'+' | b'-') if b.len() >= n + 6 => n += 6,
        _ => {}
    }
    Some(n)
}

/// Runs `scenario` with runc, then with berth, and compares what each saw.
pub fn compare(scenario: impl Fn(&mut Case)) {
    compare_with(&[], scenario)
}

/// `compare`, with the deliberate differences `differ`.
pub fn compare_with(differ: &[Differ], scenario: impl Fn(&mut Case)) {
    compare_as(None, differ, scenario)
}

/// `compare_with`, both runtimes run by an ordinary user of the test's own
/// (rootless), on the bundle each one's `spec --rootless` makes for it.
pub fn compare_rootless(differ: &[Differ], scenario: impl Fn(&mut Case)) {
    let user = Arc::new(TestUser::new(&[common::berth_bin()]));
    compare_as(Some(user), differ, scenario)
}

fn compare_as(user: Option<Arc<TestUser>>, differ: &[Differ], scenario: impl Fn(&mut Case)) {
    let seen = |rt| {
        let mut c = Case::new(rt, user.clone());
        scenario(&mut c);
        c.cleanup();
        c.see_host("host afterwards");
        (std::mem::take(&mut c.seen), std::mem::take(&mut c.order))
    };
    let (runc, _) = seen(Rt::Runc);
    let (berth, order) = seen(Rt::Berth);
    // COMPAT_SHOW=1 prints what both runs saw, to write a scenario by.
    if std::env::var_os("COMPAT_SHOW").is_some() {
        for k in &order {
            eprintln!(
                "{k}:\n    runc:  {:?}\n    berth: {:?}",
                runc.get(k),
                berth.get(k)
            );
        }
    }
    let mut bad = Vec::new();
    let mut keys: Vec<&String> = order.iter().collect();
    keys.extend(runc.keys().filter(|k| !berth.contains_key(*k)));
    for k in keys {
        let (r, b) = (runc.get(k), berth.get(k));
        match differ.iter().find(|d| d.key == k) {
            Some(d) => {
                if b.map(String::as_str) != Some(d.berth) {
                    bad.push(format!(
                        "{k}: deliberate difference: berth should show {:?}, shows {b:?}",
                        d.berth
                    ));
                } else if r == b {
                    bad.push(format!("{k}: listed as a deliberate difference, but runc agrees now ({r:?}): remove it"));
                } else {
                    eprintln!(
                        "{k}: deliberate difference (runc {r:?}, berth {b:?}): {}",
                        d.why
                    );
                }
            }
            None if r != b => bad.push(describe(k, r, b)),
            None => {}
        }
    }
    for d in differ {
        if !berth.contains_key(d.key) && !runc.contains_key(d.key) {
            bad.push(format!(
                "{}: deliberate difference for a key neither run saw",
                d.key
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "berth differs from runc:\n  {}",
        bad.join("\n  ")
    );
}

/// One differing key: both values, or for text of several lines the lines
/// only runc's has (-) and those only berth's has (+).
fn describe(k: &str, r: Option<&String>, b: Option<&String>) -> String {
    match (r, b) {
        (Some(r), Some(b)) if r.contains('\n') || b.contains('\n') => {
            let (rl, bl): (Vec<&str>, Vec<&str>) = (r.lines().collect(), b.lines().collect());
            let mut d = format!("{k}: (- runc only, + berth only)");
            for l in rl.iter().filter(|l| !bl.contains(l)) {
                d.push_str(&format!("\n    - {l}"));
            }
            for l in bl.iter().filter(|l| !rl.contains(l)) {
                d.push_str(&format!("\n    + {l}"));
            }
            if rl.len() == bl.len() && d.lines().count() == 1 {
                d.push_str("\n    (the same lines in another order)");
            }
            d
        }
        _ => format!("{k}:\n    runc:  {r:?}\n    berth: {b:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_as_printed() {
        assert_eq!(
            key_order(r#"[{"b":1,"a":{"z":"x:y","c":[1,{"q":2}]}}]"#),
            vec!["b,a", "z,c", "q"]
        );
    }

    #[test]
    fn times_are_normalised() {
        assert_eq!(
            normalise_times("a 2026-12-06T17:53:56.068584658Z b"),
            "a <time> b"
        );
        assert_eq!(normalise_times("2026-12-06T17:53:56+01:00"), "<time>");
        assert_eq!(normalise_times("2026-12-06 no"), "2026-12-06 no");
    }
}
