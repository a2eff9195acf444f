//! `berth check`: every problem of a bundle at once, in text and JSON, with
//! exit status 0/1/2; each host-dependent problem on its own; --strict and
//! --spec-only; no false alarm on a valid bundle or on the configs real
//! clients generated; and nothing created.

use crate::common::{Bundle, Out};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn check(b: &Bundle, flags: &[&str]) -> Out {
    let bundle = b.path.to_str().unwrap().to_string();
    let mut args = vec!["check", "--bundle", &bundle];
    args.extend_from_slice(flags);
    b.berth(&args)
}

/// `--format json`'s findings as (code, severity, path), checked against
/// the document's shape.
#[track_caller]
fn findings(b: &Bundle, flags: &[&str]) -> (i32, Vec<(String, String, String)>) {
    let mut f = vec!["--format", "json"];
    f.extend_from_slice(flags);
    let out = check(b, &f);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(doc["schemaVersion"], 1, "{doc}");
    assert_eq!(doc["bundle"], b.path.to_str().unwrap());
    let list = doc["findings"].as_array().unwrap();
    let got = list
        .iter()
        .map(|x| {
            assert!(x["message"].as_str().is_some_and(|m| !m.is_empty()), "{x}");
            assert!(!x["message"].as_str().unwrap().contains('\n'), "{x}");
            let s = |k: &str| x[k].as_str().unwrap().to_string();
            (s("code"), s("severity"), s("path"))
        })
        .collect();
    (out.code, got)
}

#[track_caller]
fn has(got: &[(String, String, String)], code: &str, sev: &str, path: &str) {
    assert!(
        got.iter()
            .any(|(c, s, p)| c == code && s == sev && p == path),
        "{sev} {code} at {path} missing from {got:#?}"
    );
}

/// The bundle left nothing on the host: no state, no cgroup, no mount.
#[track_caller]
fn nothing_created(b: &Bundle, cgroup: &str) {
    let state = std::fs::read_dir(&b.root).map(|d| d.count()).unwrap_or(0);
    assert_eq!(state, 0, "check made state under {}", b.root.display());
    for d in b.cgroup_dirs(cgroup) {
        assert!(!d.exists(), "check made cgroup {}", d.display());
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(b.path.to_str().unwrap()));
}

fn set_ns_path(c: &mut Value, typ: &str, path: &str) {
    let list = c["linux"]["namespaces"].as_array_mut().unwrap();
    match list.iter_mut().find(|n| n["type"] == typ) {
        Some(n) => n["path"] = path.into(),
        None => list.push(json!({"type": typ, "path": path})),
    }
}

fn write_mode(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn every_problem_at_once_in_text_and_json() {
    let b = Bundle::new(&["/nothere"]);
    let cgroup = format!("/berth-check-{}", std::process::id());
    let hook = b.path.join("hook.sh");
    write_mode(&hook, "#!/bin/sh\n", 0o644);
    b.config(|c| {
        c.as_object_mut().unwrap().remove("ociVersion");
        c["process"]["cwd"] = "relative".into();
        c["process"]["env"] = json!(["PATH=/bin", "NOEQUALS"]);
        c["process"]["user"]["uid"] = 4294967295u32.into();
        c["hostname"] = "h".repeat(65).into();
        c["linux"]["cgroupsPath"] = cgroup.clone().into();
        c["linux"]["sysctl"] = json!({"vm.swappiness": "10"});
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/data", "type": "bind", "source": "/nonexistent/berth-src", "options": ["rbind"]}));
        c["hooks"] = json!({"prestart": [{"path": hook}], "poststop": [{"path": "/nonexistent/hook"}]});
        set_ns_path(c, "ipc", "/proc/self/ns/uts");
    });
    let want = [
        ("ociVersion", "oci-version.missing"),
        ("process.cwd", "path.relative"),
        ("process.env[1]", "env.format"),
        ("process.user.uid", "id.none"),
        ("hostname", "name.too-long"),
        ("linux.sysctl.vm.swappiness", "sysctl.host"),
        ("process.args[0]", "program.missing"),
        ("mounts[7].source", "mount.source-missing"),
        ("hooks.prestart[0].path", "hook.not-executable"),
        ("hooks.poststop[0].path", "hook.missing"),
        ("linux.namespaces[2].path", "namespace.wrong-type"),
    ];
    let (code, got) = findings(&b, &[]);
    assert_eq!(code, 1);
    for (path, c) in want {
        has(&got, c, "error", path);
    }
    assert_eq!(got.len(), want.len(), "{got:#?}");

    let out = check(&b, &[]);
    assert_eq!(out.code, 1, "{out:?}");
    for (path, c) in want {
        assert!(
            out.stdout.contains(&format!("error[{c}] {path}: ")),
            "{c} {path} in {}",
            out.stdout
        );
    }
    assert!(
        out.stdout.ends_with(&format!(
            "{}: {} error(s), 0 warning(s)\n",
            b.path.display(),
            want.len()
        )),
        "{}",
        out.stdout
    );
    nothing_created(&b, &cgroup);

    // create refuses the same bundle with the first of them, as it did.
    let id = b.id("check");
    let out = b.create(&id);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("config.json: process.cwd: the working directory must be an absolute path"),
        "{out:?}"
    );
    b.assert_no_leftovers(&id);
}

/// Each problem of the config against this host, alone: exit 1 and one
/// error with its code at its JSON path.
#[test]
fn each_host_problem_alone() {
    type Setup = fn(&Bundle);
    let cases: Vec<(&str, &str, &str, Setup)> = vec![
        (
            "missing program",
            "program.missing",
            "process.args[0]",
            |b| b.config(|c| c["process"]["args"] = json!(["/bin/nothere"])),
        ),
        ("not on PATH", "program.not-found", "process.args[0]", |b| {
            b.config(|c| c["process"]["args"] = json!(["nothere"]))
        }),
        // /bin/ls is linked dynamically: its loader is not in a busybox rootfs.
        (
            "missing ELF interpreter",
            "program.interpreter-missing",
            "process.args[0]",
            |b| {
                std::fs::copy("/bin/ls", b.path.join("rootfs/bin/ls-dyn")).unwrap();
                b.config(|c| c["process"]["args"] = json!(["ls-dyn"]))
            },
        ),
        (
            "missing #! interpreter",
            "program.interpreter-missing",
            "process.args[0]",
            |b| {
                write_mode(
                    &b.path.join("rootfs/run.py"),
                    "#!/usr/bin/python3\nprint(1)\n",
                    0o755,
                );
                b.config(|c| c["process"]["args"] = json!(["/run.py"]))
            },
        ),
        ("CRLF #! line", "program.crlf", "process.args[0]", |b| {
            write_mode(
                &b.path.join("rootfs/crlf.sh"),
                "#!/bin/sh\r\necho hi\r\n",
                0o755,
            );
            b.config(|c| c["process"]["args"] = json!(["/crlf.sh"]))
        }),
        (
            "not executable",
            "program.not-executable",
            "process.args[0]",
            |b| {
                write_mode(&b.path.join("rootfs/x.sh"), "#!/bin/sh\necho hi\n", 0o644);
                b.config(|c| c["process"]["args"] = json!(["/x.sh"]))
            },
        ),
        ("a directory", "program.directory", "process.args[0]", |b| {
            b.config(|c| c["process"]["args"] = json!(["/etc"]))
        }),
        (
            "neither ELF nor #!",
            "program.format",
            "process.args[0]",
            |b| {
                write_mode(&b.path.join("rootfs/text"), "echo hi\n", 0o755);
                b.config(|c| c["process"]["args"] = json!(["/text"]))
            },
        ),
        // busybox with e_machine patched to aarch64's (or x86_64's on one).
        (
            "ELF for another machine",
            "program.machine",
            "process.args[0]",
            |b| {
                let file = b.path.join("rootfs/bin/foreign");
                let mut elf = std::fs::read("/bin/busybox").unwrap();
                let other: u16 = if elf[18] == 62 { 183 } else { 62 };
                elf[18..20].copy_from_slice(&other.to_le_bytes());
                std::fs::write(&file, elf).unwrap();
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
                b.config(|c| c["process"]["args"] = json!(["foreign"]))
            },
        ),
        (
            "missing bind source",
            "mount.source-missing",
            "mounts[7].source",
            |b| {
                b.config(|c| {
                c["mounts"].as_array_mut().unwrap().push(
                    json!({"destination": "/data", "type": "none", "source": "gone", "options": ["bind"]}),
                )
            })
            },
        ),
        (
            "hook not executable",
            "hook.not-executable",
            "hooks.createRuntime[0].path",
            |b| {
                let hook = b.path.join("hook.sh");
                write_mode(&hook, "#!/bin/sh\n", 0o600);
                b.config(|c| c["hooks"] = json!({"createRuntime": [{"path": hook}]}))
            },
        ),
        (
            "namespace of another type",
            "namespace.wrong-type",
            "linux.namespaces[1].path",
            |b| b.config(|c| set_ns_path(c, "network", "/proc/self/ns/ipc")),
        ),
        (
            "not a namespace",
            "namespace.not-namespace",
            "linux.namespaces[1].path",
            |b| b.config(|c| set_ns_path(c, "network", "/etc/hostname")),
        ),
        ("missing rootfs", "rootfs.missing", "root.path", |b| {
            b.config(|c| c["root"]["path"] = "nope".into())
        }),
        (
            "program under a noexec mount",
            "program.noexec",
            "process.args[0]",
            |b| {
                b.config(|c| {
                    c["process"]["args"] = json!(["/work/run"]);
                    c["mounts"].as_array_mut().unwrap().push(json!(
                        {"destination": "/work", "type": "tmpfs", "source": "tmpfs", "options": ["exec", "noexec"]}
                    ))
                })
            },
        ),
    ];
    for (what, code, path, setup) in cases {
        let b = Bundle::new(&["true"]);
        assert_eq!(b.read_config()["linux"]["namespaces"][1]["type"], "network");
        setup(&b);
        let (status, got) = findings(&b, &[]);
        assert_eq!(status, 1, "{what}: {got:?}");
        assert_eq!(
            got,
            [(code.to_string(), "error".to_string(), path.to_string())],
            "{what}"
        );
        // The host's problems are not the config's.
        let (status, got) = findings(&b, &["--spec-only"]);
        assert_eq!((status, got.len()), (0, 0), "{what} --spec-only: {got:?}");
    }
}

#[test]
fn strict_warns_of_what_berth_accepts_leniently() {
    let b = Bundle::new(&["true"]);
    b.config(|c| {
        c["process"]["cwdir"] = "/typo".into();
        c["linux"]["namespace"] = json!([{"type": "pid"}]);
        c["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwmx"}]});
    });
    let selinux_off = !Path::new("/sys/fs/selinux/enforce").exists();
    if selinux_off {
        b.config(|c| c["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0".into());
    }
    let (code, got) = findings(&b, &[]);
    // cgroup v2 refuses an "x" outright: an error there, not a leniency.
    // (A warning while no cgroup on the container's path exists but the
    // root, whose files differ from a child's.)
    if crate::common::cgroup_v2() {
        assert!(
            got.iter()
                .any(|(c, _, p)| c.starts_with("cgroup.")
                    && p == "linux.resources.devices[0].access"),
            "{got:#?}"
        );
        return;
    }
    assert_eq!((code, got.len()), (0, 0), "{got:?}");
    let (code, got) = findings(&b, &["--strict"]);
    assert_eq!(code, 1);
    has(&got, "field.unknown", "warning", "process.cwdir");
    has(&got, "field.unknown", "warning", "linux.namespace");
    has(
        &got,
        "device-rule.access",
        "warning",
        "linux.resources.devices[0].access",
    );
    if selinux_off {
        has(&got, "selinux.off", "warning", "linux.mountLabel");
    }
    assert_eq!(got.len(), 3 + usize::from(selinux_off), "{got:#?}");
    let out = check(&b, &["--strict"]);
    assert!(
        out.stdout
            .contains("warning[field.unknown] process.cwdir: "),
        "{out:?}"
    );
}

#[test]
fn apparmor_profile_where_apparmor_is_off() {
    let on = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    let b = Bundle::new(&["true"]);
    b.config(|c| c["process"]["apparmorProfile"] = "berth-test".into());
    let (code, got) = findings(&b, &[]);
    if on {
        return;
    }
    assert_eq!(code, 1);
    assert_eq!(
        got,
        [(
            "apparmor.off".into(),
            "error".into(),
            "process.apparmorProfile".into()
        )]
    );
    // Another host may have AppArmor.
    assert_eq!(findings(&b, &["--spec-only"]), (0, vec![]));
}

#[test]
fn exit_status_and_usage() {
    let b = Bundle::new(&["true"]);
    let out = check(&b, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        format!("{}: no problems found\n", b.path.display())
    );
    for bad in [&["--nope"][..], &["--format", "yaml"], &["extra"]] {
        let out = check(&b, bad);
        assert_eq!(out.code, 2, "{bad:?}: {out:?}");
        assert!(out.stderr.contains("Usage: berth check"), "{out:?}");
    }
    let out = b.berth(&["check", "--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("--spec-only"));
    // A bundle without config.json is the bundle's problem, not usage.
    let empty = tempfile::tempdir().unwrap();
    let out = b.berth(&["check", "-b", empty.path().to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("error[config.unreadable]"), "{out:?}");
}

#[test]
fn config_json_is_one_document() {
    let b = Bundle::new(&["true"]);
    let text = std::fs::read_to_string(b.path.join("config.json")).unwrap();
    std::fs::write(b.path.join("config.json"), format!("{text}\n{text}")).unwrap();
    let (code, got) = findings(&b, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        got,
        [(
            "config.documents".into(),
            "error".into(),
            "config.json".into()
        )]
    );
    std::fs::write(b.path.join("config.json"), "{\"ociVersion\": ").unwrap();
    let (_, got) = findings(&b, &["--spec-only"]);
    assert_eq!(got[0].0, "config.syntax");
}

/// The harness's bundle, fully and strictly; the configs Docker, podman and
/// containerd generated, without this host.
#[test]
fn no_false_alarms() {
    let b = Bundle::sh("echo hi");
    let (code, got) = findings(&b, &["--strict"]);
    assert_eq!((code, got.len()), (0, 0), "{got:#?}");
    nothing_created(&b, "/berth/check");
    // A program that a mount brings (not in the rootfs before it), and one
    // named relative to the cwd, are no alarm either.
    write_mode(
        &b.path.join("rootfs/root/run.sh"),
        "#!/bin/sh\necho hi\n",
        0o755,
    );
    b.config(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/opt/tool", "type": "bind", "source": "/bin", "options": ["rbind", "ro"]}),
        )
    });
    for (args, cwd) in [
        (json!(["/opt/tool/busybox", "true"]), "/"),
        (json!(["./run.sh"]), "/root"),
    ] {
        b.config(|c| {
            c["process"]["args"] = args;
            c["process"]["cwd"] = cwd.into();
        });
        assert_eq!(findings(&b, &["--strict"]), (0, vec![]));
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seen = 0;
    for e in std::fs::read_dir(&fixtures).unwrap() {
        let file = e.unwrap().path();
        if !file.to_string_lossy().ends_with(".config.json") {
            continue;
        }
        seen += 1;
        let b = Bundle::new(&["true"]);
        std::fs::copy(&file, b.path.join("config.json")).unwrap();
        let (code, got) = findings(&b, &["--spec-only", "--strict"]);
        // Docker's kitchen sink sets memory.swappiness, which only cgroup
        // v1 has: right for some hosts, so a warning.
        let rest: Vec<_> = got
            .iter()
            .filter(|(c, _, p)| {
                !(c == "resources.cgroup-version" && p == "linux.resources.memory.swappiness")
            })
            .collect();
        assert!(rest.is_empty(), "{}: {rest:#?}", file.display());
        assert_eq!(code, i32::from(!got.is_empty()), "{}", file.display());
        let (code, _) = findings(&b, &["--spec-only"]);
        assert_eq!(code, 0, "{}", file.display());
    }
    assert!(seen >= 4, "the fixtures are there");
}

/// Removes the test's own parent cgroups, whatever the test did.
struct Parents(Vec<std::path::PathBuf>);

impl Drop for Parents {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Each resource's controller and file, against the container's cgroup as
/// it would be: under an existing parent of the test's own, every
/// resource is answered (not only the first); under nothing but the root,
/// whose files differ from a child's, only warnings.
#[test]
fn cgroup_controllers_and_files() {
    let hierarchies = crate::common::cgroup_hierarchies();
    if crate::common::cgroup_v2() || hierarchies.iter().any(|h| h.ends_with("hugetlb")) {
        return; // the case needs a v1 host without the hugetlb controller
    }
    let b = Bundle::new(&["true"]);
    let parent = format!("/berth-check-parent-{}", std::process::id());
    b.config(|c| {
        c["linux"]["cgroupsPath"] = format!("{parent}/c").into();
        c["linux"]["resources"]["pids"] = json!({"limit": 100});
        c["linux"]["resources"]["memory"] = json!({"limit": 100_000_000});
        c["linux"]["resources"]["hugepageLimits"] = json!([{"pageSize": "2MB", "limit": 2097152}]);
        c["linux"]["resources"]["rdma"] = json!({"mlx5_0": {"hcaHandles": 3}});
    });
    // Only the root exists: pids.max is not there (the root has no limit),
    // which the container's cgroup may yet have; hugetlb and rdma are not
    // mounted at all, which no cgroup can mend.
    let (code, got) = findings(&b, &[]);
    assert_eq!(code, 1, "{got:#?}");
    has(
        &got,
        "cgroup.unverified",
        "warning",
        "linux.resources.pids.limit",
    );
    has(
        &got,
        "cgroup.unsupported",
        "error",
        "linux.resources.hugepageLimits[0]",
    );
    assert!(
        got.iter()
            .any(|(c, s, p)| c == "cgroup.unsupported" && s == "error" && p.contains("rdma")),
        "{got:#?}"
    );
    let parents = Parents(b.cgroup_dirs(&parent));
    for d in &parents.0 {
        std::fs::create_dir(d).unwrap();
    }
    let (code, got) = findings(&b, &[]);
    assert_eq!(code, 1);
    let paths: Vec<_> = got.iter().map(|(_, _, p)| p.as_str()).collect();
    assert!(
        got.iter()
            .all(|(c, s, _)| c == "cgroup.unsupported" && s == "error"),
        "{got:#?}"
    );
    assert_eq!(
        paths.len(),
        2,
        "hugetlb and rdma, not pids nor memory: {got:#?}"
    );
    assert!(
        paths.iter().any(|p| p.contains("hugepageLimits")),
        "{got:#?}"
    );
    assert!(paths.iter().any(|p| p.contains("rdma")), "{got:#?}");
    // Nothing made under the parent.
    for d in b.cgroup_dirs(&format!("{parent}/c")) {
        assert!(!d.exists(), "{}", d.display());
    }
}

/// linux.cgroupsPath is read as create reads it: systemd's slice:prefix:name
/// only under --systemd-cgroup.
#[test]
fn systemd_cgroups_path_follows_the_global_flag() {
    let b = Bundle::new(&["true"]);
    b.config(|c| c["linux"]["cgroupsPath"] = "system.slice:berth:x".into());
    let (code, got) = findings(&b, &["--spec-only"]);
    assert_eq!(code, 1);
    assert_eq!(
        got,
        [(
            "cgroups-path.invalid".into(),
            "error".into(),
            "linux.cgroupsPath".into()
        )]
    );
    let bundle = b.path.to_str().unwrap();
    let out = b.berth(&[
        "--systemd-cgroup",
        "check",
        "--spec-only",
        "--bundle",
        bundle,
    ]);
    assert_eq!(out.code, 0, "{out:?}");
}

/// The kernel refuses to exec from a filesystem mounted noexec, where the
/// rootfs (or a directory of it) lies: check says so, as for a mount of
/// the config's.
#[test]
fn a_program_on_a_noexec_filesystem() {
    let b = Bundle::new(&["/noexec/sh"]);
    let dir = b.path.join("rootfs/noexec");
    std::fs::create_dir_all(&dir).unwrap();
    let target = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    // SAFETY: a fresh tmpfs on a directory of the test's own bundle.
    let r = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOEXEC,
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    struct Unmount(std::ffi::CString);
    impl Drop for Unmount {
        fn drop(&mut self) {
            unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
        }
    }
    let _u = Unmount(target);
    std::fs::copy(b.path.join("rootfs/bin/busybox"), dir.join("sh")).unwrap();
    let (code, got) = findings(&b, &[]);
    assert_eq!(code, 1, "{got:#?}");
    assert_eq!(
        got,
        [(
            "program.noexec".into(),
            "error".into(),
            "process.args[0]".into()
        )]
    );
}

/// Every seccomp flag this kernel takes passes check (each is asked of the
/// kernel, as features' supportedFlags); none is a false alarm.
#[test]
fn seccomp_flags_the_kernel_takes() {
    let b = Bundle::new(&["true"]);
    b.config(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                      "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
        })
    });
    let features: Value = serde_json::from_str(&b.berth(&["features"]).stdout).unwrap();
    let supported = features["linux"]["seccomp"]["supportedFlags"]
        .as_array()
        .unwrap();
    let (_, got) = findings(&b, &[]);
    let refused: Vec<_> = got.iter().filter(|(c, _, _)| c == "seccomp.flag").collect();
    assert_eq!(
        refused.len(),
        4 - supported.len(),
        "{got:#?} with {supported:?}"
    );
}

/// A rootless berth maps ids beyond the user's own only through
/// newuidmap/newgidmap, within the user's /etc/subuid and /etc/subgid
/// ranges: a range that is not the user's is named before newuidmap
/// refuses it.
#[test]
fn rootless_id_maps_within_the_users_subordinate_ranges() {
    let user = crate::common::user::TestUser::new(&[crate::common::berth_bin()]);
    let bundle = user.home.join("bundle");
    crate::common::make_rootfs(&bundle.join("rootfs"));
    user.chown_all(&bundle);
    let b = bundle.to_str().unwrap().to_string();
    user.run("berth", &["spec", "--rootless", "--bundle", &b])
        .ok();
    let (uid, gid, sub) = (user.uid, user.gid, user.sub_start);
    let set = |host: u32| {
        let file = bundle.join("config.json");
        let mut c: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        c["linux"]["uidMappings"] = json!([
            {"containerID": 0, "hostID": uid, "size": 1},
            {"containerID": 1, "hostID": host, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([
            {"containerID": 0, "hostID": gid, "size": 1},
            {"containerID": 1, "hostID": sub, "size": 65536}]);
        std::fs::write(&file, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    };
    let codes = |out: Out| -> Vec<(String, String)> {
        let doc: Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["code"].as_str().unwrap().into(),
                    x["path"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    set(sub);
    let out = user.run("berth", &["check", "--bundle", &b, "--format", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(codes(out).iter().all(|(c, _)| !c.starts_with("userns")));
    set(sub + 65536 * 4);
    let out = user.run("berth", &["check", "--bundle", &b, "--format", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        codes(out),
        [(
            "userns.subid".to_string(),
            "linux.uidMappings[1].hostID".to_string()
        )]
    );
}

/// An idmapped bind whose filesystem takes no idmap (procfs) is named;
/// one on this host's ext4 passes, and nothing of the probe remains.
#[test]
fn idmapped_binds_on_filesystems_that_take_them() {
    let b = Bundle::new(&["true"]);
    let data = b.path.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mount = |source: &str| {
        json!({"destination": "/data", "type": "bind", "source": source,
               "options": ["rbind", "idmap"],
               "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
               "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]})
    };
    let n = b.read_config()["mounts"].as_array().unwrap().len();
    b.config(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(mount(data.to_str().unwrap()))
    });
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let (code, got) = findings(&b, &[]);
    assert_eq!((code, got.len()), (0, 0), "{got:#?}");
    b.config(|c| c["mounts"][n] = mount("/proc"));
    let (code, got) = findings(&b, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        got,
        [("mount.idmap".into(), "error".into(), format!("mounts[{n}]"))]
    );
    let mounts_after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_eq!(mounts_before.lines().count(), mounts_after.lines().count());
}
