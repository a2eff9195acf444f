//! containerd's CRI plugin with `SystemdCgroup = true`, as Kubernetes
//! recommends on systemd hosts: the runc shim runs berth with
//! --systemd-cgroup, each pod's cgroup parent is the slice kubelet's
//! systemd driver names (`kubepods-besteffort-pod<UID>.slice` under
//! kubepods.slice/kubepods-besteffort.slice) and every sandbox and container
//! is a transient scope `cri-containerd-<ID>.scope` in it. Checked through
//! `systemctl show` and the cgroup files. It needs systemd as PID 1 on
//! cgroup v2, so it is ignored on the host: tests/systemd/run.sh runs it in
//! the guest of `make test-systemd`.

use super::Cri;
use super::scenarios::{EXITED, Pod, RUNNING, container, host_pid, sh, state, status};
use crate::suite::{Suite, run, wait_for};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

#[test]
#[ignore = "needs systemd as PID 1 on cgroup v2: tests/systemd/run.sh runs it"]
fn containerd_cri_systemd_cgroup() {
    let init = std::fs::read_to_string("/proc/1/comm").unwrap();
    assert_eq!(init.trim(), "systemd", "PID 1 is systemd");
    let mut c = Cri::start(true);
    let mut s = Suite::new("cri-systemd");
    s.scenario(&c, "RunPodSandbox in a kubepods slice: a scope", || {
        sandbox(&c)
    });
    s.scenario(
        &c,
        "CreateContainer, StartContainer, exec in a scope",
        || container_scope(&c),
    );
    s.scenario(&c, "UpdateContainerResources: properties and files", || {
        update(&c)
    });
    s.scenario(&c, "Stop and Remove leave no unit", || remove(&c));
    let mut left = c.shutdown();
    left.extend(kubelet_cleanup());
    s.finish(left);
}

/// kubelet's cgroup parent for a BestEffort pod (its uid has no '-': in
/// a slice name that is the parent's separator).
fn pod(c: &Cri, uid: &str) -> Pod {
    let cgroup =
        format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid}.slice");
    let logs = c.s.path(&format!("logs/{uid}"));
    std::fs::create_dir_all(&logs).unwrap();
    let json = json!({
        "name": uid,
        "uid": uid,
        "namespace": "berth",
        "hostname": uid,
        "log_directory": logs,
        "cgroup_parent": cgroup,
    })
    .to_string();
    let id = c.call(&["runp", &json])["id"].as_str().unwrap().to_string();
    Pod { id, json, cgroup }
}

fn scope(id: &str) -> String {
    format!("cri-containerd-{id}.scope")
}

/// A property of a unit, as `systemctl show -P` prints it.
fn show(unit: &str, property: &str) -> String {
    let mut cmd = Command::new("systemctl");
    cmd.args(["show", "-P", property, unit]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "systemctl show {unit}: {out:?}");
    out.stdout.trim().to_string()
}

/// The unified hierarchy's file of a scope of `pod`.
fn file(pod: &Pod, id: &str, name: &str) -> String {
    let p = format!("/sys/fs/cgroup{}/{}/{name}", pod.cgroup, scope(id));
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .trim()
        .to_string()
}

/// The scope of `id` is active and delegated, in the pod's slice, and the
/// process the runtime started is in its cgroup.
fn check_scope(c: &Cri, pod: &Pod, id: &str) {
    let u = scope(id);
    assert_eq!(show(&u, "ActiveState"), "active", "{u}");
    assert_eq!(show(&u, "Delegate"), "yes", "{u}");
    let slice = pod.cgroup.rsplit('/').next().unwrap();
    assert_eq!(show(&u, "Slice"), slice, "{u}");
    let cg = format!("{}/{u}", pod.cgroup);
    assert_eq!(show(&u, "ControlGroup"), cg);
    let pid = host_pid(c, id);
    let procs = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(procs.trim(), format!("0::{cg}"), "the process of {id}");
}

/// The unit is gone (a scope's cgroup goes with it), soon after the
/// runtime deleted the container.
fn check_gone(pod: &Pod, id: &str) {
    let u = scope(id);
    wait_for(&format!("{u} to be unloaded"), || {
        show(&u, "LoadState") == "not-found"
    });
    let cg = format!("/sys/fs/cgroup{}/{u}", pod.cgroup);
    assert!(!Path::new(&cg).exists(), "{cg} is removed");
}

/// The sandbox (pause) runs in its scope; the slices kubelet names exist,
/// nested as systemd nests `-` in slice names.
fn sandbox(c: &Cri) {
    let p = pod(c, "sdrunp");
    check_scope(c, &p, &p.id);
    for slice in [
        "kubepods.slice",
        "kubepods-besteffort.slice",
        "kubepods-besteffort-podsdrunp.slice",
    ] {
        assert_eq!(show(slice, "ActiveState"), "active", "{slice}");
    }
    assert_eq!(
        show("kubepods-besteffort-podsdrunp.slice", "Slice"),
        "kubepods-besteffort.slice"
    );
}

/// A container with a memory limit: its scope, MemoryMax and memory.max;
/// ExecSync and Exec through the streaming server run in it.
fn container_scope(c: &Cri) {
    let p = pod(c, "sdexec");
    let res = json!({"resources": {"memory_limit_in_bytes": 67108864}});
    let id = container(c, &p, "sleeper", &["sleep", "1000"], res);
    assert_eq!(state(c, &id), RUNNING);
    check_scope(c, &p, &id);
    assert_eq!(show(&scope(&id), "MemoryMax"), "67108864");
    assert_eq!(file(&p, &id, "memory.max"), "67108864");
    assert_eq!(sh(c, &id, "echo hi"), "hi\n");
    let r = c.call(&["exec", &id, "sh", "-c", "echo fine"]);
    assert_eq!(r["stdout"], "fine\n", "{r}");
    assert_eq!(r["status"]["status"], "Success", "{r}");
}

/// New limits reach the unit's properties (SetUnitProperties) and the
/// cgroup files, and CRI reports them.
fn update(c: &Cri) {
    let p = pod(c, "sdupdate");
    let res = json!({"resources": {"memory_limit_in_bytes": 67108864}});
    let id = container(c, &p, "sleeper", &["sleep", "1000"], res);
    let new = json!({
        "memory_limit_in_bytes": 134217728,
        "cpu_period": 100000,
        "cpu_quota": 50000,
        "cpu_shares": 512,
    });
    c.call(&["update", &id, &new.to_string()]);
    let u = scope(&id);
    assert_eq!(show(&u, "MemoryMax"), "134217728");
    assert_eq!(show(&u, "CPUQuotaPerSecUSec"), "500ms");
    // runc's conversion of shares to a weight: 1 + (512 - 2) * 9999 / 262142.
    assert_eq!(show(&u, "CPUWeight"), "20");
    assert_eq!(file(&p, &id, "memory.max"), "134217728");
    assert_eq!(file(&p, &id, "cpu.max"), "50000 100000");
    assert_eq!(file(&p, &id, "cpu.weight"), "20");
    let st = status(c, &id);
    let linux: &Value = &st["resources"]["linux"];
    assert_eq!(linux["memory_limit_in_bytes"], 134217728, "{st}");
}

/// Stop and Remove of a container, then of the pod: each scope goes when
/// the runtime deletes its container, and the runtime's state with it.
fn remove(c: &Cri) {
    let p = pod(c, "sdremove");
    let a = container(c, &p, "a", &["sleep", "1000"], json!({}));
    let b = container(c, &p, "b", &["sleep", "1000"], json!({}));
    c.call(&["stop", &a, "1"]);
    wait_for("a to be reported exited", || state(c, &a) == EXITED);
    c.call(&["rm", &a]);
    check_gone(&p, &a);
    assert!(c.runtime_state(&a).is_none(), "the runtime's state of a");
    check_scope(c, &p, &b);
    c.call(&["stopp", &p.id]);
    wait_for("StopPodSandbox to stop b", || state(c, &b) == EXITED);
    c.call(&["rmp", &p.id]);
    for id in [&b, &p.id] {
        check_gone(&p, id);
        assert!(c.runtime_state(id).is_none(), "the runtime's state of {id}");
    }
}

/// What kubelet does once its pods are gone: stops the kubepods slices.
/// Then no unit of the pods may remain (systemd unloads them soon after).
fn kubelet_cleanup() -> Vec<String> {
    let mut cmd = Command::new("systemctl");
    cmd.args(["stop", "kubepods.slice"]);
    let out = run(cmd);
    let mut left = Vec::new();
    if out.code != 0 {
        left.push(format!("systemctl stop kubepods.slice: {out:?}"));
    }
    let units = || {
        let mut cmd = Command::new("systemctl");
        cmd.args(["list-units", "--all", "--no-legend", "--plain"])
            .args(["cri-containerd-*", "kubepods*"]);
        run(cmd).stdout
    };
    let start = std::time::Instant::now();
    while !units().trim().is_empty() && start.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    left.extend(units().lines().map(|l| format!("unit {l}")));
    left
}
