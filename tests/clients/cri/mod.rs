//! containerd's CRI plugin, the path Kubernetes takes: a private containerd
//! (the ctr suite's, with the CRI plugin on) whose runtime handler runs
//! berth (`BinaryName`, `Root`), driven over its gRPC socket by
//! tests/cri-client as kubelet drives it. containerd runs in a network
//! namespace of the test's own, where the CNI bridge of the pods is made:
//! the host's network never changes. Nothing comes from a registry: the
//! pause image (catatonit) and the busybox image are imported with ctr.

mod scenarios;
mod systemd;

use crate::common::{Out, berth_bin, cgroup_hierarchies};
use crate::daemon::Daemon;
use crate::host::Scratch;
use crate::image::{PAUSE_IMAGE, oci_archive, pause_archive};
use crate::suite::{Client, Runtime, run, runtime};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

/// containerd's namespace for everything the CRI plugin makes.
const NS: &str = "k8s.io";
/// The runtime handler's name in the CRI config, and the default.
const HANDLER: &str = "berth";
/// The pods' subnet, private to the test's network namespace anyway.
const SUBNET: &str = "10.231.7.0/24";

pub struct Cri {
    // Dropped in this order: the daemon stops before the sweep.
    daemon: Daemon,
    pub s: Scratch,
    pub rt: Runtime,
    client: PathBuf,
}

impl Cri {
    /// With `systemd_cgroup`, the handler's `SystemdCgroup = true`: the
    /// shim runs the runtime with --systemd-cgroup and the CRI plugin gives
    /// cgroupsPath as `slice:cri-containerd:ID`, as on a systemd host.
    pub fn start(systemd_cgroup: bool) -> Cri {
        let client = client_bin();
        let s = Scratch::new("cri");
        let rt = runtime();
        write_cni_config(&s);
        let daemon = start_daemon(&s, &rt, systemd_cgroup);
        let c = Cri {
            daemon,
            s,
            rt,
            client,
        };
        for archive in [oci_archive(&c.s.dir), pause_archive(&c.s.dir)] {
            c.ctr(&["images", "import", archive.to_str().unwrap()]).ok();
        }
        c
    }

    fn ctr(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(self.s.path("containerd.sock"))
            .arg("--namespace")
            .arg(NS)
            .args(args);
        run(cmd)
    }

    /// One call of the CRI client, from containerd's network namespace (the
    /// streaming server listens on its 127.0.0.1).
    pub fn cri(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/proc/{}/ns/net", self.daemon.pid()))
            .arg("--")
            .arg(&self.client)
            .arg("--socket")
            .arg(self.s.path("containerd.sock"))
            .args(args);
        run(cmd)
    }

    /// A call that must succeed: its JSON.
    #[track_caller]
    pub fn call(&self, args: &[&str]) -> Value {
        let out = self.cri(args);
        assert_eq!(out.code, 0, "cri {args:?}: {out:?}");
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("cri {args:?}: {e}: {out:?}"))
    }

    /// The runtime's own view of a container, from the root the handler's
    /// options give it (the shim adds the namespace).
    pub fn runtime_state(&self, id: &str) -> Option<Value> {
        let mut cmd = Command::new(&self.rt.path);
        cmd.arg("--root")
            .arg(self.s.path("runtime-root").join(NS))
            .args(["state", id]);
        let out = run(cmd);
        (out.code == 0).then(|| serde_json::from_str(&out.stdout).unwrap())
    }

    /// Stops the daemon and says what it or its containers left behind.
    pub fn shutdown(&mut self) -> Vec<String> {
        let mut left = self.reset();
        if let Err(e) = self.daemon.stop() {
            left.push(e);
        }
        left.extend(self.s.sweep());
        left
    }
}

/// The client binary: `cargo build --profile cri-client -p
/// berth-cri-client` puts it next to berth's release directory (make
/// test-host builds it first); BERTH_CRI_CLIENT names another.
fn client_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_CRI_CLIENT") {
        return PathBuf::from(p);
    }
    let release = std::path::Path::new(berth_bin()).parent().unwrap();
    let p = release.join("../cri-client/berth-cri-client");
    assert!(
        p.exists(),
        "{} is missing: build it with `cargo build --profile cri-client -p berth-cri-client` (make test-host does)",
        p.display()
    );
    p
}

/// bridge + host-local, with the bridge, the subnet and the IPAM's data
/// directory of the test's own. No gateway and no masquerading: the pods
/// need no way out, and the namespace of containerd keeps its defaults.
fn write_cni_config(s: &Scratch) {
    let conf = json!({
        "cniVersion": "0.4.0",
        "name": "berth-cri",
        "plugins": [{
            "type": "bridge",
            "bridge": "bcri0",
            "isGateway": false,
            "ipMasq": false,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": SUBNET}]],
                "dataDir": s.str("cni-ipam"),
            },
        }],
    });
    std::fs::create_dir_all(s.path("cni")).unwrap();
    std::fs::write(s.path("cni/10-berth.conflist"), conf.to_string()).unwrap();
}

/// The ctr suite's private containerd with the CRI plugin on: the handler
/// HANDLER (runc shim v2, the runtime under test as its BinaryName, a
/// private Root) as the default, the local pause image, the streaming
/// server on 127.0.0.1, the pods' network namespaces under the state dir,
/// and no oom_score_adj below containerd's own (no CAP_SYS_RESOURCE here).
/// It runs in a new network namespace with its loopback up.
fn start_daemon(s: &Scratch, rt: &Runtime, systemd_cgroup: bool) -> Daemon {
    let cri = r#"[plugins."io.containerd.grpc.v1.cri"]"#;
    let config = format!(
        r#"version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  level = "debug"
[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
{cri}
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "{HANDLER}"
  snapshotter = "overlayfs"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{HANDLER}]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{HANDLER}.options]
  BinaryName = "{binary}"
  Root = "{runtime_root}"
  SystemdCgroup = {systemd_cgroup}
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{cni}"
"#,
        root = s.str("containerd/root"),
        state = s.str("containerd/state"),
        sock = s.str("containerd.sock"),
        opt = s.str("containerd/opt"),
        binary = rt.path.display(),
        runtime_root = s.str("runtime-root"),
        cni = s.str("cni"),
    );
    std::fs::write(s.path("containerd.toml"), config).unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args(["--net", "--", "sh", "-c"])
        .arg("ip link set lo up && exec containerd --config \"$0\"")
        .arg(s.path("containerd.toml"));
    Daemon::start(
        "containerd (CRI)",
        cmd,
        &s.path("containerd.log"),
        &s.path("containerd.sock"),
    )
}

impl Client for Cri {
    fn reset(&self) -> Vec<String> {
        let mut removed = Vec::new();
        let ps = self.cri(&["ps"]);
        let ps: Value = serde_json::from_str(&ps.stdout).unwrap_or(Value::Null);
        for c in ps["containers"].as_array().into_iter().flatten() {
            let id = c["id"].as_str().unwrap_or_default();
            self.cri(&["stop", id, "0"]);
            self.cri(&["rm", id]);
            removed.push(format!("container {id}"));
        }
        let pods = self.cri(&["pods"]);
        let pods: Value = serde_json::from_str(&pods.stdout).unwrap_or(Value::Null);
        for p in pods["items"].as_array().into_iter().flatten() {
            let id = p["id"].as_str().unwrap_or_default();
            self.cri(&["stopp", id]);
            self.cri(&["rmp", id]);
            removed.push(format!("pod {id}"));
        }
        removed
    }

    fn log_tail(&self) -> String {
        self.daemon.log_tail(40)
    }
}

/// Makes the pod's cgroup parent in every hierarchy, as kubelet's cgroupfs
/// driver does before RunPodSandbox; its path, cgroupfs style.
pub fn pod_cgroup(s: &Scratch, uid: &str) -> String {
    let parent = format!("{}/pod{uid}", s.cgroup);
    for h in cgroup_hierarchies() {
        let d = h.join(parent.trim_start_matches('/'));
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    }
    parent
}

#[test]
fn containerd_cri() {
    let mut c = Cri::start(false);
    let s = scenarios::run_all(&c);
    let left = c.shutdown();
    s.finish(left);
}
