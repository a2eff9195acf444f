//! linux.seccomp: the filter is in force when the user's program runs.

use crate::common::Bundle;
use serde_json::json;

#[test]
fn denied_syscalls_fail_as_the_profile_says() {
    let b =
        Bundle::sh("mkdir /tmp/d 2>&1; rmdir /tmp 2>&1; grep Seccomp: /proc/self/status; echo end");
    b.config(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 39},
                {"names": ["not_a_syscall_anywhere"], "action": "SCMP_ACT_ERRNO"}
            ]
        });
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
    });
    let out = b.run(&b.id("seccomp"));
    out.ok();
    let l: Vec<&str> = out.stdout.lines().collect();
    assert!(l[0].contains("Operation not permitted"), "{}", out.stdout);
    assert!(
        l[1].contains("Directory not empty"),
        "errnoRet 39 is ENOTEMPTY: {}",
        out.stdout
    );
    assert_eq!(l[2].split_whitespace().nth(1), Some("2"), "filter mode");
}

#[test]
fn kill_action_kills() {
    let b = Bundle::sh("echo before; exec mkdir /x");
    b.config(|c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]});
        c["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "pid");
    });
    let out = b.run(&b.id("seccomp-kill"));
    assert_eq!(out.stdout, "before\n");
    assert_eq!(out.code, 128 + libc::SIGSYS, "{out:?}");
}

#[test]
fn without_no_new_privileges_or_cap_sys_admin_the_filter_still_applies() {
    // Installed before the capabilities drop; berth's remaining steps pass it.
    let b = Bundle::sh("grep -E 'Seccomp:|NoNewPrivs:' /proc/self/status; mkdir /tmp/x 2>&1; true");
    b.config(|c| {
        c["process"]["noNewPrivileges"] = false.into();
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]});
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}));
    });
    let out = b.run(&b.id("seccomp-early"));
    out.ok();
    assert!(out.stdout.contains("NoNewPrivs:\t0"), "{}", out.stdout);
    assert!(out.stdout.contains("Seccomp:\t2"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Operation not permitted"),
        "{}",
        out.stdout
    );
}

#[test]
fn docker_and_podman_default_profiles_load() {
    // docker's profile denies unshare (EPERM); podman's allows it, so there
    // the test shows the profile is in force and lets the program run.
    for (fixture, unshare) in [
        (
            "docker-run-network-none.config.json",
            "Operation not permitted",
        ),
        ("podman-run-network-none.config.json", "rc=0"),
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture);
        let Ok(text) = std::fs::read_to_string(&path) else {
            panic!("fixture {} missing", path.display());
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let b = Bundle::sh("unshare -U true 2>&1; echo rc=$?; grep Seccomp: /proc/self/status");
        b.config(|c| c["linux"]["seccomp"] = v["linux"]["seccomp"].clone());
        let out = b.run(&b.id("profile"));
        out.ok();
        assert!(out.stdout.contains(unshare), "{fixture}: {}", out.stdout);
        assert!(out.stdout.contains("Seccomp:\t2"), "{}", out.stdout);
    }
}

#[test]
fn notify_sends_the_listener_fd_and_state_to_the_agent() {
    let b =
        Bundle::sh("mkdir /tmp/x && echo made; ls -d /tmp/x 2>/dev/null || echo but-not-really");
    let sock = b.path.join("agent.sock");
    let agent = crate::common::notify::agent(&sock);
    b.config(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock, "listenerMetadata": "hello-agent",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let id = b.id("notify");
    let out = b.run(&id);
    out.ok();
    assert_eq!(out.stdout, "made\nbut-not-really\n");
    assert!(agent.handled.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    let state: serde_json::Value = serde_json::from_str(&agent.state.lock().unwrap()).unwrap();
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "hello-agent");
    assert_eq!(state["state"]["id"], id.as_str());
    assert!(state["pid"].as_i64().unwrap() > 0);
}

/// Notify on syscalls berth itself makes once the filter is in (close,
/// umask, prctl, ...): the listener goes to the agent first, so they wait
/// for an agent that has it, not forever. Not a compat scenario: this
/// agent answers without running the call, so what follows depends on
/// which calls each runtime makes after its filter is in.
#[test]
fn notify_on_berths_own_syscalls_does_not_deadlock() {
    let b = Bundle::new(&["sleep", "100"]);
    let sock = b.path.join("agent.sock");
    let agent = crate::common::notify::agent(&sock);
    b.config(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
            "syscalls": [{"names": ["close", "umask"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let id = b.id("notify-own");
    let bundle = b.path.to_str().unwrap().to_string();
    b.berth(&["run", "--detach", "--bundle", &bundle, &id]).ok();
    assert!(agent.handled.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    let out = b.berth(&["exec", &id, "echo", "exec-ok"]);
    out.ok();
    assert_eq!(out.stdout, "exec-ok\n");
    b.berth(&["delete", "--force", &id]).ok();
}

#[test]
fn argument_conditions_and_flags() {
    // kill(pid, sig): the signal is argument 1.
    let b = Bundle::sh(
        "kill -CONT $$ 2>&1; kill -WINCH $$ && echo winch-sent; kill -HUP $$ 2>&1; echo end",
    );
    b.config(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [
                // SIGCONT (18) exactly.
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 18, "op": "SCMP_CMP_EQ"}]},
                // A pid above 0 and a signal with bit 4 clear: SIGHUP (1),
                // not SIGWINCH (28) nor SIGCONT (18). Both conditions hold.
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_GT"}, {"index": 1, "value": 16, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
            ]
        });
    });
    let out = b.run(&b.id("seccomp-args"));
    out.ok();
    let l: Vec<&str> = out.stdout.lines().collect();
    assert!(l[0].contains("Operation not permitted"), "{}", out.stdout);
    assert_eq!(l[1], "winch-sent", "{}", out.stdout);
    assert!(
        l[2].contains("Permission denied"),
        "errnoRet 13: {}",
        out.stdout
    );
    assert_eq!(l[3], "end");
}
