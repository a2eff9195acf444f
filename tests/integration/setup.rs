//! The bounds on a container process's setup (BERTH_SETUP_TIMEOUT): a
//! create whose process hangs in a step of berth's own, a start whose
//! process never gets to its exec, and hooks, which are the user's own
//! programs and so take as long as their timeouts allow.

use crate::common::Bundle;
use crate::common::fuse::StalledFuse;
use crate::teardown::{alive, timed};
use serde_json::json;
use std::time::Duration;

/// The container's cwd is on a FUSE mount whose daemon never answers a
/// lookup: its chdir hangs. create gives up at the bound, names the
/// process and where it waits; the process, stuck past its SIGKILL, keeps
/// the state so that delete --force clears it once the mount lets go.
#[test]
fn a_create_whose_process_hangs_in_setup_ends_at_the_bound_and_names_it() {
    let b = Bundle::sh("true");
    let mnt = b.path.join("stall");
    let Some(fuse) = StalledFuse::mount(&mnt) else {
        return;
    };
    b.config(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!(
            {"destination": "/stall", "type": "bind", "source": mnt, "options": ["rbind"]}
        ));
        c["process"]["cwd"] = "/stall/x".into();
    });
    let id = b.id("stall");
    let bundle = b.path.to_str().unwrap().to_string();
    let (out, took) = timed(
        &b,
        &["create", "--bundle", &bundle, &id],
        &[("BERTH_SETUP_TIMEOUT", "1"), ("BERTH_KILL_TIMEOUT", "1")],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let pid = fuse
        .held(Duration::from_secs(1))
        .expect("the container process looked x up");
    for want in [
        format!(
            "{id}\\\": the container process's next setup step did not come within 1.0s (BERTH_SETUP_TIMEOUT): process {pid} ("
        ),
        "fuse".into(),
        format!("cleanup: process {pid} ("),
        "the container's state is kept: delete --force clears it".into(),
    ] {
        assert!(out.stderr.contains(&want), "{want:?} in {}", out.stderr);
    }
    assert!(took < Duration::from_secs(10), "bounded: {took:?}");
    fuse.abort();
    b.berth(&["delete", "--force", &id]).ok();
    assert!(!alive(pid as i32));
    drop(fuse);
    b.assert_no_leftovers(&id);
}

/// A created container whose process is stopped (SIGSTOP) never reaches
/// its exec: start says so at the bound, with the process's state.
#[test]
fn a_start_whose_process_never_execs_ends_at_the_bound_and_names_it() {
    let b = Bundle::sh("true");
    let id = b.id("stopped");
    b.create(&id).ok();
    let pid = b.state(&id)["pid"].as_i64().unwrap() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let (out, took) = timed(&b, &["start", &id], &[("BERTH_SETUP_TIMEOUT", "1")]);
    assert_eq!(out.code, 1, "{out:?}");
    let want = format!(
        "{id}\\\": the exec of the container's program did not come within 1.0s (BERTH_SETUP_TIMEOUT): process {pid} ("
    );
    assert!(out.stderr.contains(&want), "{want:?} in {}", out.stderr);
    assert!(out.stderr.contains("state T"), "{}", out.stderr);
    assert!(took < Duration::from_secs(10), "bounded: {took:?}");
    assert_eq!(b.status(&id), "created");
    b.berth(&["delete", "--force", &id]).ok();
    assert!(!alive(pid));
    b.assert_no_leftovers(&id);
}

/// Hooks in the container process are the user's programs: a
/// createContainer hook without a timeout, and a startContainer hook
/// within its own, may each take longer than the bound on berth's steps.
#[test]
fn hooks_in_the_container_process_are_not_cut_short_by_the_setup_bound() {
    let b = Bundle::sh("echo ran");
    b.config(|c| {
        c["hooks"] = json!({
            "createContainer": [{"path": "/bin/sleep", "args": ["sleep", "2"]}],
            "startContainer": [{"path": "/bin/sleep", "args": ["sleep", "2"], "timeout": 5}]
        });
    });
    let id = b.id("slowhooks");
    let bundle = b.path.to_str().unwrap().to_string();
    let env = [("BERTH_SETUP_TIMEOUT", "1")];
    let (out, took) = timed(&b, &["create", "--bundle", &bundle, &id], &env);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(took >= Duration::from_secs(2), "the hook ran: {took:?}");
    let (out, took) = timed(&b, &["start", &id], &env);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(took >= Duration::from_secs(2), "the hook ran: {took:?}");
    b.berth(&["delete", "--force", &id]).ok();
    // run's start takes the same road over its channel.
    let id = b.id("slowrun");
    let mut cmd = b.cmd(&["run", "--bundle", &bundle, &id]);
    cmd.env("BERTH_SETUP_TIMEOUT", "1");
    let out = crate::common::run_with_timeout(cmd, Duration::from_secs(60));
    assert_eq!((out.code, out.stdout.as_str()), (0, "ran\n"), "{out:?}");
}
