//! AppArmor profiles of the container's process and of exec's. Where the
//! host has AppArmor (the v2 guest boots with it, and tests/v2/run.sh
//! makes sure it is on there), two profiles of the test's own are loaded
//! with apparmor_parser and checked from inside: each process runs under
//! the profile it should, and the profile's denial bites. Where AppArmor is
//! off (these machines), create and exec refuse a profile alike.

use crate::common::{Bundle, Out, run_with_timeout};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub(crate) fn apparmor_on() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
        && Path::new("/sys/kernel/security/apparmor").is_dir()
}

/// Two profiles, loaded for as long as this lives: `a` allows everything
/// but reading /secret, `b` everything but reading /other. Their names
/// hold `tag`: each test loads and unloads its own.
pub(crate) struct Profiles {
    file: PathBuf,
    pub(crate) a: String,
    pub(crate) b: String,
}

impl Profiles {
    pub(crate) fn load(dir: &Path, tag: &str) -> Profiles {
        let a = format!("berth-test-{}-{tag}-a", std::process::id());
        let b = format!("berth-test-{}-{tag}-b", std::process::id());
        // attach_disconnected: the process's files may lie outside its
        // mount namespace's root (berth's fds before the exec).
        let profile = |name: &str, denied: &str| {
            format!(
                "profile {name} flags=(attach_disconnected,mediate_deleted) {{\n  file,\n  capability,\n  network,\n  signal,\n  ptrace,\n  unix,\n  mount,\n  umount,\n  pivot_root,\n  deny {denied} r,\n}}\n"
            )
        };
        let file = dir.join("berth-test.apparmor");
        std::fs::write(&file, profile(&a, "/secret") + &profile(&b, "/other")).unwrap();
        let p = Profiles { file, a, b };
        parser("-r", &p.file).ok();
        p
    }
}

impl Drop for Profiles {
    fn drop(&mut self) {
        let out = parser("-R", &self.file);
        if !std::thread::panicking() {
            out.ok();
        }
    }
}

/// apparmor_parser, bounded: it compiles the profiles (seconds under TCG).
fn parser(op: &str, file: &Path) -> Out {
    let mut c = Command::new("apparmor_parser");
    c.arg(op).arg(file);
    run_with_timeout(c, Duration::from_secs(300))
}

/// A container of busybox with /secret and /other in its rootfs.
fn bundle(args: &[&str], f: impl FnOnce(&mut serde_json::Value)) -> Bundle {
    let b = Bundle::new(args);
    for name in ["secret", "other"] {
        std::fs::write(b.path.join("rootfs").join(name), format!("{name}\n")).unwrap();
    }
    b.config(f);
    b
}

fn exec(b: &Bundle, args: &[&str]) -> Out {
    b.berth(&[&["exec"], args].concat())
}

/// The profile a process runs under, as /proc/PID/attr/current shows it.
pub(crate) fn confined(name: &str) -> String {
    format!("{name} (enforce)")
}

#[track_caller]
fn denied(out: &Out, file: &str) {
    assert_eq!(out.code, 1, "reading {file} is denied: {out:?}");
    assert!(
        out.stderr
            .contains(&format!("can't open '{file}': Permission denied")),
        "{out:?}"
    );
}

#[test]
fn profiles_of_the_container_and_of_exec() {
    if !apparmor_on() {
        create_and_exec_refuse_a_profile();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = Profiles::load(dir.path(), "exec");

    // The container's own process, under its profile from the start.
    let b = bundle(
        &[
            "sh",
            "-c",
            "cat /proc/self/attr/current; cat /other; cat /secret",
        ],
        |c| c["process"]["apparmorProfile"] = p.a.clone().into(),
    );
    let out = b.run(&b.id("aa-run"));
    denied(&out, "/secret");
    assert_eq!(out.stdout, format!("{}\nother\n", confined(&p.a)));

    // exec: the container's profile, unless --apparmor names another; a
    // process.json without one takes the container's, as runc's does.
    let b = bundle(&["sleep", "1000"], |c| {
        c["process"]["apparmorProfile"] = p.a.clone().into()
    });
    let id = b.id("aa-exec");
    let pid = b.run_detached(&id);
    let current = std::fs::read_to_string(format!("/proc/{pid}/attr/current")).unwrap();
    assert_eq!(current.trim_end_matches(['\n', '\0']), confined(&p.a));
    let out = exec(&b, &[&id, "cat", "/proc/self/attr/current", "/other"]);
    out.ok();
    assert_eq!(out.stdout, format!("{}\nother\n", confined(&p.a)));
    denied(&exec(&b, &[&id, "cat", "/secret"]), "/secret");
    let out = exec(
        &b,
        &[
            "--apparmor",
            &p.b,
            &id,
            "cat",
            "/proc/self/attr/current",
            "/secret",
        ],
    );
    out.ok();
    assert_eq!(out.stdout, format!("{}\nsecret\n", confined(&p.b)));
    denied(
        &exec(&b, &["--apparmor", &p.b, &id, "cat", "/other"]),
        "/other",
    );
    let process = |name: &str, profile: Option<&str>| {
        let mut v = json!({"args": ["cat", "/proc/self/attr/current"], "cwd": "/"});
        if let Some(profile) = profile {
            v["apparmorProfile"] = profile.into();
        }
        let f = dir.path().join(name);
        std::fs::write(&f, v.to_string()).unwrap();
        f.to_str().unwrap().to_string()
    };
    let out = exec(&b, &["-p", &process("p.json", None), &id]);
    assert_eq!(out.ok().stdout, format!("{}\n", confined(&p.a)));
    let out = exec(&b, &["-p", &process("pb.json", Some(&p.b)), &id]);
    assert_eq!(out.ok().stdout, format!("{}\n", confined(&p.b)));

    // The profile goes through a procfs of berth's own, not the
    // container's /proc (CVE-2025-52881): with a tmpfs over that, exec
    // still applies it.
    let b = bundle(&["sleep", "1000"], |c| {
        c["process"]["apparmorProfile"] = p.a.clone().into();
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}));
    });
    let id = b.id("aa-proc");
    b.run_detached(&id);
    let out = exec(&b, &[&id, "sh", "-c", "ls -A /proc; cat /other"]);
    assert_eq!(out.ok().stdout, "other\n", "an empty tmpfs on /proc");
    denied(&exec(&b, &[&id, "cat", "/secret"]), "/secret");
    denied(
        &exec(&b, &["--apparmor", &p.b, &id, "cat", "/other"]),
        "/other",
    );
}

/// Where AppArmor is off, a profile cannot apply: create refuses it, and
/// so does exec (--apparmor, or a process.json's), with the same error.
fn create_and_exec_refuse_a_profile() {
    const ERROR: &str = "process.apparmorProfile: AppArmor is not enabled on this host: the profile cannot be applied";
    let b = bundle(&["true"], |c| {
        c["process"]["apparmorProfile"] = "berth-test".into()
    });
    let id = b.id("aa-off");
    let out = b.create(&id);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains(ERROR), "{out:?}");
    b.assert_no_leftovers(&id);

    let b = bundle(&["sleep", "1000"], |_| {});
    let id = b.id("aa-off-exec");
    b.run_detached(&id);
    let out = exec(&b, &["--apparmor", "berth-test", &id, "true"]);
    assert_eq!(out.code, 255, "{out:?}");
    assert!(out.stderr.contains(ERROR), "{out:?}");
    let f = b.path.join("process.json");
    let v = json!({"args": ["true"], "cwd": "/", "apparmorProfile": "berth-test"});
    std::fs::write(&f, v.to_string()).unwrap();
    let out = exec(&b, &["-p", f.to_str().unwrap(), &id]);
    assert_eq!(out.code, 255, "{out:?}");
    assert!(out.stderr.contains(ERROR), "{out:?}");
    // Without a profile, exec runs.
    exec(&b, &[&id, "true"]).ok();
}
