//! podman 4.3 (with conmon) checkpointing and restoring a container with
//! berth as its runtime, as a user would: `podman container checkpoint`
//! runs `berth checkpoint --image-path U/checkpoint --work-path U ID` (U,
//! the container's userdata directory), and `podman container restore`
//! has conmon run `berth restore --bundle U --pid-file P --detach
//! --image-path U/checkpoint --work-path U ID`; --export and --import
//! carry the images in a tar. podman's world is private to the test (its
//! configuration, storage, run root and tmp dir, berth's root through a
//! wrapper, a cgroup parent of its own), its image imported from a
//! busybox rootfs, never pulled.

use super::{count_above, criu_here, read_count};
use crate::common::{Out, make_rootfs, run_with_timeout};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const IMAGE: &str = "localhost/berth-criu:latest";

struct Podman {
    dir: tempfile::TempDir,
    cgroup: String,
}

impl Podman {
    fn start() -> Podman {
        let dir = tempfile::Builder::new()
            .prefix("berth-criu-podman-")
            .tempdir()
            .unwrap();
        let p = Podman {
            cgroup: format!("/berth-criu-podman-{}", std::process::id()),
            dir,
        };
        // default_ulimits: podman's defaults for root are above the
        // machine's hard limits. The file lock type keeps podman's locks
        // in its tmp dir.
        let conf = format!(
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\"]\nnetns = \"none\"\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
             tmp_dir = \"{}\"\nlock_type = \"file\"\n",
            p.path("tmp").display()
        );
        std::fs::write(p.path("containers.conf"), conf).unwrap();
        let storage = format!(
            "[storage]\ndriver = \"overlay\"\nrunroot = \"{}\"\ngraphroot = \"{}\"\n",
            p.path("runroot").display(),
            p.path("root").display()
        );
        std::fs::write(p.path("storage.conf"), storage).unwrap();
        // podman passes no --root to delete: the wrapper gives every call
        // the private one.
        std::fs::create_dir_all(p.path("bin")).unwrap();
        let wrapper = p.path("bin/berth");
        std::fs::write(
            p.path("berth.sh"),
            format!(
                "#!/bin/sh\nexec '{}' --root '{}' \"$@\"\n",
                crate::common::berth_bin(),
                p.path("runtime-root").display()
            ),
        )
        .unwrap();
        let cp = Command::new("install")
            .args(["-m", "0755"])
            .arg(p.path("berth.sh"))
            .arg(&wrapper)
            .status()
            .unwrap();
        assert!(cp.success());
        let rootfs = p.path("rootfs");
        make_rootfs(&rootfs);
        let tar = p.path("rootfs.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success(), "tar of the rootfs");
        p.podman(&["import", "--quiet", tar.to_str().unwrap(), IMAGE])
            .ok();
        p
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// podman with the private world, bounded for TCG.
    fn podman(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new("podman");
        cmd.current_dir(self.dir.path())
            .env("CONTAINERS_CONF", self.path("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.path("storage.conf"))
            .arg("--root")
            .arg(self.path("root"))
            .arg("--runroot")
            .arg(self.path("runroot"))
            .arg("--tmpdir")
            .arg(self.path("tmp"))
            .arg("--runtime")
            .arg(self.path("bin/berth"))
            .arg("--cgroup-manager")
            .arg("cgroupfs")
            .args(args)
            .stdin(std::process::Stdio::null());
        run_with_timeout(cmd, Duration::from_secs(300))
    }

    fn status(&self, name: &str) -> String {
        let out = self.podman(&["inspect", "--format", "{{.State.Status}}", name]);
        out.ok();
        out.stdout.trim().to_string()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        self.podman(&["rm", "--force", "--all", "--time", "0"]);
        // containers/storage mounts its overlay home on itself.
        let home = std::ffi::CString::new(self.path("root/overlay").to_str().unwrap()).unwrap();
        unsafe { libc::umount2(home.as_ptr(), libc::MNT_DETACH) };
        let _ = std::fs::remove_dir(format!("/sys/fs/cgroup{}", self.cgroup));
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A counter (in a bind volume, read here, and on stdout) checkpointed
/// and restored by podman counts on from where it was, the same process,
/// its output in podman's log; then exported to a tar (a second dump, of
/// the restored process) and imported under a new name, it counts on.
#[test]
fn podman_checkpoint_and_restore_with_berth() {
    if !criu_here("podman_checkpoint_and_restore_with_berth") {
        return;
    }
    let p = Podman::start();
    let vol = p.path("vol");
    std::fs::create_dir_all(&vol).unwrap();
    let count = vol.join("count");
    let volume = format!("{}:/data", s(&vol));
    p.podman(&[
        "run",
        "--detach",
        "--pull=never",
        "--name",
        "counter",
        "--network",
        "none",
        "--cgroup-parent",
        &p.cgroup,
        "--volume",
        &volume,
        IMAGE,
        "/bin/sh",
        "-c",
        "echo started >> /data/starts; i=0; while :; do i=$((i+1)); echo $i > /data/count; echo $i; sleep 0.2; done",
    ])
    .ok();
    count_above(&count, 2);

    p.podman(&["container", "checkpoint", "counter"]).ok();
    assert_eq!(p.status("counter"), "exited");
    let dumped = read_count(&count).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(read_count(&count), Some(dumped), "counting after the dump");
    p.podman(&["container", "restore", "counter"]).ok();
    assert_eq!(p.status("counter"), "running");
    let n = count_above(&count, dumped);
    count_above(&count, n);
    // Its stdout is conmon's pipe again (restore hands the pipes over):
    // what it printed after the restore is in podman's log.
    let logs = p.podman(&["logs", "counter"]);
    let last: u64 = logs.ok().stdout.lines().last().unwrap().parse().unwrap();
    assert!(
        last > dumped,
        "podman logs ends at {last}, the dump was at {dumped}"
    );

    let tar = p.path("counter.tar.gz");
    p.podman(&["container", "checkpoint", "--export", s(&tar), "counter"])
        .ok();
    let exported = read_count(&count).unwrap();
    p.podman(&["rm", "counter"]).ok();
    p.podman(&[
        "container",
        "restore",
        "--import",
        s(&tar),
        "--name",
        "imported",
    ])
    .ok();
    assert_eq!(p.status("imported"), "running");
    count_above(&count, exported);
    let starts = std::fs::read_to_string(vol.join("starts")).unwrap();
    assert_eq!(starts, "started\n", "the counter started again");
    p.podman(&["rm", "--force", "--time", "0", "imported"]).ok();
}
