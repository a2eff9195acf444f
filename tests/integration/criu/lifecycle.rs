//! A restore in the lifecycle: in the foreground it waits as run does
//! (the container's exit status, then the container deleted), the hooks
//! run as runc runs them (prestart and createRuntime in the restored
//! namespaces before the tree resumes; poststop at each delete) and
//! poststart after it, as after a start; and --lsm-profile puts the
//! restored process under another AppArmor profile than it was dumped in.

use super::{count_above, counter, criu_here, images, read_count, s, slow, wait_for};
use crate::common::run_with_timeout;
use serde_json::json;
use std::time::Duration;

/// A counter that exits 7 once /tmp/stop exists, with the hooks that run
/// on the host each appending their name to `log`.
fn stoppable_counter_with_hooks(log: &std::path::Path) -> crate::common::Bundle {
    let b = counter("/tmp");
    b.config(|c| {
        let args = c["process"]["args"][2].as_str().unwrap().to_string();
        let args = args.replace("while :;", "while [ ! -e /tmp/stop ];") + "; exit 7";
        c["process"]["args"][2] = args.into();
        let hook = |name: &str| {
            json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("echo {name} >> {}", log.display())]}])
        };
        for name in ["prestart", "createRuntime", "poststart", "poststop"] {
            c["hooks"][name] = hook(name);
        }
    });
    b
}

/// Restore without --detach: berth waits for the restored process as run
/// waits, returns its exit status and deletes the container; the hooks
/// ran at run, checkpoint and restore as the log shows.
#[test]
fn restore_in_the_foreground_waits_and_runs_the_hooks() {
    if !criu_here("restore_in_the_foreground_waits_and_runs_the_hooks") {
        return;
    }
    let log = std::env::temp_dir().join(format!("berth-criu-hooks-{}", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let b = stoppable_counter_with_hooks(&log);
    let file = b.path.join("rootfs/tmp/count");
    let id = b.id("criu-fg");
    b.run_detached(&id);
    count_above(&file, 2);
    let img = images(&b, "img");
    slow(&b, &["checkpoint", "--image-path", &s(&img), &id]).ok();
    let hooks = || std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(hooks(), "prestart\ncreateRuntime\npoststart\npoststop\n");
    let dumped = read_count(&file).unwrap();

    let bundle = s(&b.path);
    let cmd = b.cmd(&["restore", "-b", &bundle, "--image-path", &s(&img), &id]);
    let one = super::restoring();
    let restore = std::thread::spawn(move || run_with_timeout(cmd, Duration::from_secs(300)));
    count_above(&file, dumped);
    drop(one);
    assert_eq!(b.status(&id), "running");
    wait_for(
        || hooks().lines().count() == 7,
        "restore ran prestart, createRuntime and poststart",
    );
    std::fs::write(b.path.join("rootfs/tmp/stop"), "").unwrap();
    let out = restore.join().unwrap();
    assert_eq!(out.code, 7, "restore returns the process's status: {out:?}");
    assert_eq!(
        hooks(),
        "prestart\ncreateRuntime\npoststart\npoststop\nprestart\ncreateRuntime\npoststart\npoststop\n"
    );
    super::assert_started_once(&file);
    b.assert_no_leftovers(&id);
    let _ = std::fs::remove_file(&log);
}

/// `restore --lsm-profile apparmor:NAME`: the restored process runs under
/// NAME in place of the profile it was dumped under (CRIU rewrites a
/// profile; an unconfined process stays unconfined). Without the flag the
/// dumped profile comes back.
#[test]
fn lsm_profile_rewrites_the_restored_process_s_profile() {
    if !criu_here("lsm_profile_rewrites_the_restored_process_s_profile") {
        return;
    }
    assert!(
        crate::apparmor::apparmor_on(),
        "the v2 guest boots with AppArmor"
    );
    let b = counter("/tmp");
    let profiles = crate::apparmor::Profiles::load(b.path.parent().unwrap(), "criu");
    b.config(|c| c["process"]["apparmorProfile"] = profiles.a.clone().into());
    let file = b.path.join("rootfs/tmp/count");
    let id = b.id("criu-lsm");
    b.run_detached(&id);
    count_above(&file, 2);
    let current = |id: &str| {
        let pid = b.state(id)["pid"].as_i64().unwrap();
        let text = std::fs::read_to_string(format!("/proc/{pid}/attr/current")).unwrap();
        text.trim().to_string()
    };
    let confined = crate::apparmor::confined;
    assert_eq!(current(&id), confined(&profiles.a));
    let bundle = s(&b.path);
    for (lsm, profile) in [(None, &profiles.a), (Some(&profiles.b), &profiles.b)] {
        let img = images(&b, &format!("img-{profile}"));
        slow(&b, &["checkpoint", "--image-path", &s(&img), &id]).ok();
        let dumped = read_count(&file).unwrap();
        let flag = lsm.map(|p| format!("apparmor:{p}"));
        let mut args = vec!["restore", "-d", "-b", &bundle, "--image-path"];
        let img = s(&img);
        args.push(&img);
        if let Some(f) = &flag {
            args.extend(["--lsm-profile", f.as_str()]);
        }
        args.push(&id);
        slow(&b, &args).ok();
        count_above(&file, dumped);
        assert_eq!(current(&id), confined(profile), "restored with {flag:?}");
    }
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}
