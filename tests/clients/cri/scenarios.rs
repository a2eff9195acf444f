//! The CRI scenarios, in kubelet's order: the pod's cgroup parent, then
//! RunPodSandbox, CreateContainer, StartContainer, ExecSync, Exec and
//! Attach, UpdateContainerResources, ContainerStats, ListContainers, the
//! exit status, StopContainer racing the exit, RemoveContainer,
//! StopPodSandbox and RemovePodSandbox; then a hardened container and a
//! Bidirectional volume. Each scenario has pods of its own.

use super::{Cri, SUBNET, pod_cgroup};
use crate::common::{cgroup_file, cgroup_hierarchies, cgroup_v2};
use crate::image::IMAGE;
use crate::suite::{Suite, wait_for};
use serde_json::{Value, json};
use std::path::Path;

/// CRI's ContainerState and PodSandboxState, as numbers in its JSON.
pub(super) const RUNNING: i64 = 1;
pub(super) const EXITED: i64 = 2;
const SANDBOX_READY: i64 = 0;
const SANDBOX_NOTREADY: i64 = 1;

pub fn run_all(c: &Cri) -> Suite {
    let mut s = Suite::new("cri");
    s.scenario(c, "RunPodSandbox: cgroup parent, pause, network", || {
        run_pod(c)
    });
    s.scenario(c, "CreateContainer, StartContainer, ExecSync", || {
        exec_sync(c)
    });
    s.scenario(c, "Exec through the streaming server", || exec(c));
    s.scenario(c, "Attach through the streaming server", || attach(c));
    s.scenario(c, "UpdateContainerResources", || update(c));
    s.scenario(c, "ContainerStats and ListContainers", || stats_list(c));
    s.scenario(c, "a container's exit status", || exit_status(c));
    let rounds = race_rounds();
    s.scenario(
        c,
        &format!("StopContainer racing the exit, {rounds} times"),
        || stop_racing_exit(c, rounds),
    );
    s.scenario(
        c,
        "RemoveContainer, StopPodSandbox, RemovePodSandbox",
        || remove(c),
    );
    s.scenario(c, "a hardened security context", || hardened(c));
    s.scenario(c, "a Bidirectional volume", || bidirectional(c));
    s
}

/// A pod kubelet would run: its cgroup parent made first.
pub struct Pod {
    pub id: String,
    pub json: String,
    pub cgroup: String,
}

fn pod(c: &Cri, name: &str, privileged: bool) -> Pod {
    let uid = format!("{name}-uid");
    let cgroup = pod_cgroup(&c.s, &uid);
    let logs = c.s.path(&format!("logs/{name}"));
    std::fs::create_dir_all(&logs).unwrap();
    let json = json!({
        "name": name,
        "uid": uid,
        "namespace": "berth",
        "hostname": name,
        "log_directory": logs,
        "cgroup_parent": cgroup,
        "privileged": privileged,
    })
    .to_string();
    let id = c.call(&["runp", &json])["id"].as_str().unwrap().to_string();
    Pod { id, json, cgroup }
}

/// A container of `pod` running `cmd`, created and started; `extra` adds
/// to its JSON (src/spec.rs of tests/cri-client).
pub(super) fn container(c: &Cri, pod: &Pod, name: &str, cmd: &[&str], extra: Value) -> String {
    let id = create(c, pod, name, cmd, extra);
    c.call(&["start", &id]);
    id
}

pub(super) fn create(c: &Cri, pod: &Pod, name: &str, cmd: &[&str], extra: Value) -> String {
    let mut spec = json!({
        "name": name,
        "image": IMAGE,
        "command": cmd,
        "log_path": format!("{name}.log"),
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        spec[k] = v.clone();
    }
    c.call(&["create", &pod.id, &pod.json, &spec.to_string()])["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(super) fn status(c: &Cri, id: &str) -> Value {
    c.call(&["inspect", id])["status"].clone()
}

pub(super) fn state(c: &Cri, id: &str) -> i64 {
    status(c, id)["state"].as_i64().unwrap()
}

/// ExecSync's stdout, checked to exit 0.
#[track_caller]
pub(super) fn sh(c: &Cri, id: &str, script: &str) -> String {
    let r = c.call(&["exec-sync", id, "20", "sh", "-c", script]);
    assert_eq!(r["exit_code"], 0, "{script}: {r}");
    r["stdout"].as_str().unwrap().to_string()
}

/// The pid of a container's (or sandbox's) process on the host, from the
/// runtime that made it.
pub(super) fn host_pid(c: &Cri, id: &str) -> i64 {
    let st = c.runtime_state(id).expect("the runtime has the container");
    st["pid"].as_i64().unwrap()
}

fn cgroup_exists(rel: &str) -> bool {
    cgroup_hierarchies()
        .iter()
        .any(|h| h.join(rel.trim_start_matches('/')).exists())
}

/// The sandbox is catatonit, ready, in its pod's cgroup parent and its own
/// network namespace, with an address of the CNI subnet.
fn run_pod(c: &Cri) {
    let p = pod(c, "runp", false);
    let st = c.call(&["inspectp", &p.id]);
    assert_eq!(st["status"]["state"], SANDBOX_READY, "{st}");
    let ip = st["status"]["network"]["ip"].as_str().unwrap_or("");
    let prefix = SUBNET.trim_end_matches("0/24");
    assert!(
        ip.starts_with(prefix),
        "the pod's address {ip:?} is of {SUBNET}"
    );
    let rs = c.runtime_state(&p.id).expect("the runtime has the sandbox");
    assert_eq!(rs["status"], "running", "{rs}");
    let pid = rs["pid"].as_i64().unwrap();
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, "/pause\0-P\0", "the sandbox runs the pause image");
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("{}/{}", p.cgroup, p.id);
    assert!(
        cg.lines().any(|l| l.ends_with(&want)),
        "the sandbox is in {want}: {cg}"
    );
    let mine = std::fs::read_link("/proc/self/ns/net").unwrap();
    let its = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_ne!(mine, its, "the pod has a network namespace of its own");
}

/// A container in the pod: its cgroup under the pod's parent, the pod's
/// network namespace and address; ExecSync's output and exit code.
fn exec_sync(c: &Cri) {
    let p = pod(c, "execsync", false);
    let id = container(c, &p, "sleeper", &["sleep", "1000"], json!({}));
    assert_eq!(state(c, &id), RUNNING);
    let pid = host_pid(c, &id);
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("{}/{id}", p.cgroup);
    assert!(cg.lines().any(|l| l.ends_with(&want)), "in {want}: {cg}");
    let pause = host_pid(c, &p.id);
    let ns = |pid: i64| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(ns(pid), ns(pause), "the container joins the pod's network");
    let ip = c.call(&["inspectp", &p.id])["status"]["network"]["ip"]
        .as_str()
        .unwrap()
        .to_string();
    let addrs = sh(c, &id, "ip -o -4 addr show eth0");
    assert!(addrs.contains(&format!("inet {ip}/")), "{addrs}");
    let r = c.call(&[
        "exec-sync",
        &id,
        "20",
        "sh",
        "-c",
        "echo out; echo err >&2; cat /proc/1/cmdline | tr '\\0' ' '; exit 3",
    ]);
    assert_eq!(r["stdout"], "out\nsleep 1000 ", "{r}");
    assert_eq!(r["stderr"], "err\n", "{r}");
    assert_eq!(r["exit_code"], 3, "{r}");
    assert_eq!(sh(c, &id, "hostname"), "execsync\n");
}

/// Exec's URL on the streaming server, opened as a websocket: stdin in,
/// stdout and stderr apart, the exit code in the status; a tty too.
fn exec(c: &Cri) {
    let p = pod(c, "exec", false);
    let id = container(c, &p, "sleeper", &["sleep", "1000"], json!({}));
    let r = c.call(&[
        "exec",
        "--stdin",
        "hello\n",
        &id,
        "sh",
        "-c",
        "read l; echo \"got $l\"; echo err >&2; exit 3",
    ]);
    assert!(
        r["protocol"].as_str().unwrap().contains("channel.k8s.io"),
        "{r}"
    );
    assert_eq!(r["stdout"], "got hello\n", "{r}");
    assert_eq!(r["stderr"], "err\n", "{r}");
    assert_eq!(r["status"]["status"], "Failure", "{r}");
    assert_eq!(r["status"]["reason"], "NonZeroExitCode", "{r}");
    assert_eq!(r["status"]["details"]["causes"][0]["message"], "3", "{r}");
    assert_eq!(r["closed_by_server"], true, "{r}");
    let r = c.call(&["exec", &id, "sh", "-c", "echo fine"]);
    assert_eq!(r["stdout"], "fine\n", "{r}");
    assert_eq!(r["status"]["status"], "Success", "{r}");
    // A terminal as `kubectl exec -it` asks for it: stdin too. (With tty
    // and no stdin, containerd 1.6 mostly sends none of the output, with
    // runc as well.)
    let r = c.call(&[
        "exec",
        "--tty",
        "--stdin",
        "go\n",
        &id,
        "sh",
        "-c",
        "read l; tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-terminal $l",
    ]);
    let out = r["stdout"].as_str().unwrap();
    assert!(out.contains("/dev/pts/"), "{r}");
    assert!(out.contains("stdio-is-a-terminal go"), "{r}");
    assert_eq!(r["status"]["status"], "Success", "{r}");
}

/// Attach to a running container's stdio: what goes in on stdin comes back
/// from the container's own process on stdout; the log has it too.
fn attach(c: &Cri) {
    let p = pod(c, "attach", false);
    let id = container(
        c,
        &p,
        "echoer",
        &[
            "sh",
            "-c",
            "echo ready; while read l; do echo \"got $l\"; done",
        ],
        json!({"stdin": true}),
    );
    let r = c.call(&["attach", "--stdin", "one\n", "--until", "got one", &id]);
    assert!(r["stdout"].as_str().unwrap().contains("got one\n"), "{r}");
    // A second attach, once the first has gone: the process still reads.
    let r = c.call(&["attach", "--stdin", "two\n", "--until", "got two", &id]);
    assert!(r["stdout"].as_str().unwrap().contains("got two\n"), "{r}");
    assert_eq!(state(c, &id), RUNNING);
    let log = c.s.path("logs/attach/echoer.log");
    wait_for("the log to have both lines", || {
        let l = std::fs::read_to_string(&log).unwrap_or_default();
        l.contains("got one") && l.contains("got two")
    });
}

fn cgroup_value(cg: &str, ctl: &str, file: &str) -> String {
    let p = cgroup_file(ctl, cg, file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// New limits reach the container's cgroup and the runtime's state.
fn update(c: &Cri) {
    let p = pod(c, "update", false);
    let id = container(
        c,
        &p,
        "sleeper",
        &["sleep", "1000"],
        json!({"resources": {"memory_limit_in_bytes": 67108864}}),
    );
    let cg = format!("{}/{id}", p.cgroup);
    let mem = if cgroup_v2() {
        ("", "memory.max")
    } else {
        ("memory", "memory.limit_in_bytes")
    };
    assert_eq!(cgroup_value(&cg, mem.0, mem.1), "67108864");
    c.call(&[
        "update",
        &id,
        r#"{"memory_limit_in_bytes": 134217728, "cpu_period": 100000, "cpu_quota": 50000, "cpu_shares": 512}"#,
    ]);
    assert_eq!(cgroup_value(&cg, mem.0, mem.1), "134217728");
    if cgroup_v2() {
        assert_eq!(cgroup_value(&cg, "", "cpu.max"), "50000 100000");
    } else {
        assert_eq!(cgroup_value(&cg, "cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(cgroup_value(&cg, "cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(cgroup_value(&cg, "cpu", "cpu.shares"), "512");
    }
    let st = status(c, &id);
    assert_eq!(
        st["resources"]["linux"]["memory_limit_in_bytes"], 134217728,
        "CRI reports the new limit: {st}"
    );
}

/// Stats of a busy container; the list has the pod's containers with their
/// states.
fn stats_list(c: &Cri) {
    let p = pod(c, "stats", false);
    let busy = container(
        c,
        &p,
        "busy",
        &[
            "sh",
            "-c",
            "x=$(head -c 8000000 /dev/zero | tr '\\0' a); while :; do :; done",
        ],
        json!({}),
    );
    let done = container(c, &p, "done", &["true"], json!({}));
    wait_for("the short container to exit", || state(c, &done) == EXITED);
    wait_for("cpu and memory in the stats", || {
        let s = &c.call(&["stats", &busy])["stats"];
        let cpu = s["cpu"]["usage_core_nano_seconds"]["value"].as_u64();
        let mem = s["memory"]["working_set_bytes"]["value"].as_u64();
        cpu.unwrap_or(0) > 0 && mem.unwrap_or(0) > 1_000_000
    });
    let s = c.call(&["stats", &busy]);
    assert_eq!(s["stats"]["attributes"]["id"], busy.as_str(), "{s}");
    let list = c.call(&["ps"]);
    let mine: Vec<(String, i64)> = list["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["pod_sandbox_id"] == p.id.as_str())
        .map(|x| {
            (
                x["metadata"]["name"].as_str().unwrap().to_string(),
                x["state"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut want = vec![("busy".to_string(), RUNNING), ("done".to_string(), EXITED)];
    let mut got = mine.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{list}");
}

/// What CRI reports of an exited container: the code, Completed or Error,
/// and 137 for one stopped by SIGKILL.
fn exit_status(c: &Cri) {
    let p = pod(c, "exit", false);
    let ok = container(c, &p, "ok", &["true"], json!({}));
    let seven = container(c, &p, "seven", &["sh", "-c", "exit 7"], json!({}));
    // pid 1 of its namespace: TERM has no default action, so Stop kills.
    let killed = container(c, &p, "killed", &["sleep", "1000"], json!({}));
    c.call(&["stop", &killed, "1"]);
    for (id, code, reason) in [
        (&ok, 0, "Completed"),
        (&seven, 7, "Error"),
        (&killed, 137, "Error"),
    ] {
        wait_for("the container to exit", || state(c, id) == EXITED);
        let st = status(c, id);
        assert_eq!(st["exit_code"], code, "{st}");
        assert_eq!(st["reason"], reason, "{st}");
        assert!(st["finished_at"].as_i64().unwrap() > 0, "{st}");
    }
}

/// How many rounds the StopContainer race runs: 30, or
/// BERTH_CLIENTS_RACE_ROUNDS (the cgroup v2 guest runs fewer: under TCG a
/// round takes about 30 s).
fn race_rounds() -> u64 {
    match std::env::var("BERTH_CLIENTS_RACE_ROUNDS") {
        Ok(n) => n
            .parse()
            .unwrap_or_else(|_| panic!("BERTH_CLIENTS_RACE_ROUNDS={n}: a number")),
        Err(_) => 30,
    }
}

/// StopContainer while the container's own process exits, at moments
/// around its exit; then the container and the pod are removed. No
/// container, pod, runtime state or process may remain.
///
/// containerd 1.6 itself may fail a StopContainer that lands while it is
/// deleting the exited task ("ttrpc: closed": the shim went away under the
/// kill); kubelet calls it again, and so does this test, once.
fn stop_racing_exit(c: &Cri, rounds: u64) {
    let mut retried = 0;
    for i in 0..rounds {
        let p = pod(c, &format!("race{i}"), false);
        let id = container(c, &p, "exiting", &["sleep", "0.1"], json!({}));
        std::thread::sleep(std::time::Duration::from_millis(60 + (i % 10) * 10));
        let out = c.cri(&["stop", &id, "2"]);
        if out.code != 0 {
            assert!(out.stderr.contains("ttrpc: closed"), "round {i}: {out:?}");
            retried += 1;
            c.call(&["stop", &id, "2"]);
        }
        // When the task was gone already, StopContainer returns before
        // containerd's exit handler has recorded the exit: it comes soon.
        wait_for("the container to be reported exited", || {
            state(c, &id) == EXITED
        });
        // Its pid 1 ignores SIGTERM: it ended on its own, well within 2 s.
        let st = status(c, &id);
        assert_eq!(st["exit_code"], 0, "round {i}: {st}");
        c.call(&["rm", &id]);
        c.call(&["stopp", &p.id]);
        c.call(&["rmp", &p.id]);
        assert!(c.runtime_state(&id).is_none(), "round {i}: container left");
        assert!(c.runtime_state(&p.id).is_none(), "round {i}: sandbox left");
    }
    let pods = c.call(&["pods"]);
    assert!(
        pods["items"].as_array().is_none_or(|a| a.is_empty()),
        "{pods}"
    );
    let ps = c.call(&["ps"]);
    assert!(
        ps["containers"].as_array().is_none_or(|a| a.is_empty()),
        "{ps}"
    );
    println!(
        "cri: StopContainer failed with `ttrpc: closed` (then passed) in {retried} of {rounds} rounds"
    );
}

/// The end of a pod: its containers removed, then the pod stopped (its
/// sandbox killed, network torn down) and removed, with its cgroups,
/// runtime state and network namespace.
fn remove(c: &Cri) {
    let p = pod(c, "remove", false);
    let a = container(c, &p, "a", &["sleep", "1000"], json!({}));
    let b = container(c, &p, "b", &["sleep", "1000"], json!({}));
    c.call(&["stop", &a, "1"]);
    c.call(&["rm", &a]);
    assert!(c.runtime_state(&a).is_none());
    assert!(!cgroup_exists(&format!("{}/{a}", p.cgroup)));
    let inspect = c.cri(&["inspect", &a]);
    assert_ne!(inspect.code, 0, "{inspect:?}");
    // StopPodSandbox stops the running container b too.
    let pause = host_pid(c, &p.id);
    let netns = c.call(&["inspectp", &p.id]);
    c.call(&["stopp", &p.id]);
    assert_eq!(
        c.call(&["inspectp", &p.id])["status"]["state"],
        SANDBOX_NOTREADY
    );
    assert_eq!(state(c, &b), EXITED);
    assert!(
        !Path::new(&format!("/proc/{pause}")).exists(),
        "the pause process is gone"
    );
    c.call(&["rmp", &p.id]);
    assert!(
        c.cri(&["inspect", &b]).code != 0,
        "RemovePodSandbox removed b"
    );
    assert!(c.runtime_state(&b).is_none() && c.runtime_state(&p.id).is_none());
    for cg in [
        format!("{}/{b}", p.cgroup),
        format!("{}/{}", p.cgroup, p.id),
    ] {
        assert!(!cgroup_exists(&cg), "{cg} is removed");
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let ns_dir = c.s.str("containerd/state/io.containerd.grpc.v1.cri/netns");
    assert!(
        !info.lines().any(|l| l.contains(&ns_dir)),
        "the pod's network namespace is unmounted: {netns}"
    );
}

/// Non-root, read-only root, no_new_privs, RuntimeDefault seccomp and no
/// capability, each seen from inside the container.
fn hardened(c: &Cri) {
    let p = pod(c, "hardened", false);
    let id = container(
        c,
        &p,
        "hard",
        &["sleep", "1000"],
        json!({"security": {
            "run_as_user": 1000,
            "run_as_group": 1000,
            "readonly_rootfs": true,
            "no_new_privs": true,
            "seccomp": "runtime_default",
            "drop_capabilities": ["ALL"],
        }}),
    );
    assert_eq!(sh(c, &id, "id -u; id -g"), "1000\n1000\n");
    let r = c.call(&["exec-sync", &id, "20", "sh", "-c", "touch /x"]);
    assert_ne!(r["exit_code"], 0, "{r}");
    assert!(
        r["stderr"]
            .as_str()
            .unwrap()
            .contains("Read-only file system"),
        "{r}"
    );
    let status = sh(c, &id, "cat /proc/1/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} in {status}"))
            .trim()
            .to_string()
    };
    assert_eq!(field("NoNewPrivs"), "1");
    assert_eq!(field("Seccomp"), "2", "a seccomp filter");
    for caps in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(caps), "0000000000000000", "{caps}");
    }
    // The kernel lets an unprivileged process make a user namespace;
    // RuntimeDefault's filter allows unshare only with CAP_SYS_ADMIN.
    let r = c.call(&["exec-sync", &id, "20", "sh", "-c", "unshare -U true"]);
    assert_ne!(r["exit_code"], 0, "{r}");
    let err = r["stderr"].as_str().unwrap();
    assert!(err.contains("Operation not permitted"), "{r}");
}

/// A Bidirectional volume: a mount made inside the (privileged) container
/// under it appears on the host, in the volume's directory.
fn bidirectional(c: &Cri) {
    let vol = c.s.path("bidir");
    std::fs::create_dir_all(&vol).unwrap();
    // CRI requires the host path to be on a shared mount: a bind mount of
    // the directory onto itself, made shared, in the scratch directory (the
    // sweep unmounts it).
    let v = vol.to_str().unwrap();
    let _unmount = Unmount(vol.clone());
    for args in [vec!["--bind", v, v], vec!["--make-rshared", v]] {
        let st = std::process::Command::new("mount")
            .args(&args)
            .status()
            .unwrap();
        assert!(st.success(), "mount {args:?}");
    }
    let p = pod(c, "bidir", true);
    let id = container(
        c,
        &p,
        "mounter",
        &["sleep", "1000"],
        json!({
            "security": {"privileged": true},
            "mounts": [{"host_path": v, "container_path": "/vol", "propagation": "bidirectional"}],
        }),
    );
    sh(
        c,
        &id,
        "mkdir -p /vol/m && mount -t tmpfs bidir-tmpfs /vol/m && echo from-inside > /vol/m/f",
    );
    let inner = vol.join("m");
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        info.lines().any(|l| l.split(' ').nth(4) == inner.to_str()),
        "the container's mount is on the host at {}",
        inner.display()
    );
    assert_eq!(
        std::fs::read_to_string(inner.join("f")).unwrap(),
        "from-inside\n"
    );
    sh(c, &id, "umount /vol/m");
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !info.lines().any(|l| l.split(' ').nth(4) == inner.to_str()),
        "its unmount propagates too"
    );
}

/// Unmounts (lazily, with what is under it) when the scenario ends.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let st = std::process::Command::new("umount")
            .args(["-R", "-l"])
            .arg(&self.0)
            .status();
        if !st.is_ok_and(|s| s.success()) {
            eprintln!("umount -R -l {} failed", self.0.display());
        }
    }
}
