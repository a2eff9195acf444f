//! The root filesystem: propagation back to the host, /proc and /sys on
//! symlinks, a read-only /dev, --no-pivot, bind sources only the host's
//! root can reach, the createContainer hook's working directory,
//! rnosymfollow.

use crate::harness::{Case, Differ, compare, compare_with};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a host command; its success.
fn host(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Host mounts a scenario made, detached in reverse order when it ends,
/// whether it passed or not.
struct HostMounts(Vec<PathBuf>);

impl HostMounts {
    fn mount(&mut self, args: &[&str], target: &Path) {
        let mut cmd = Command::new("mount");
        cmd.args(args).arg(target);
        assert!(
            cmd.status().unwrap().success(),
            "mount {args:?} {}",
            target.display()
        );
        self.0.push(target.to_path_buf());
    }
}

impl Drop for HostMounts {
    fn drop(&mut self) {
        for m in self.0.iter().rev() {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(m)
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Whether the host's mount table has a mount at `path`.
fn host_has_mount(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(path.to_str().unwrap()))
}

fn add_caps(c: &Case, caps: &[&str]) {
    c.config(|v| {
        for set in ["bounding", "effective", "permitted"] {
            let list = v["process"]["capabilities"][set].as_array_mut().unwrap();
            for cap in caps {
                list.push(json!(cap));
            }
        }
    });
}

fn push_mount(c: &Case, m: serde_json::Value) {
    c.config(|v| v["mounts"].as_array_mut().unwrap().push(m));
}

/// A shared tmpfs of the test's own at <dir>/shared with a directory
/// `inner` for the container to mount on; unmounted when the guard goes,
/// with whatever propagated back under it first.
fn shared_host_mount(c: &Case) -> (PathBuf, HostMounts) {
    let shared = c.dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    let mut m = HostMounts(vec![]);
    m.mount(&["-t", "tmpfs", "-o", "size=1m", "compat-shared"], &shared);
    assert!(host(&["mount", "--make-shared", shared.to_str().unwrap()]));
    std::fs::create_dir(shared.join("inner")).unwrap();
    m.0.insert(0, shared.join("inner"));
    (shared, m)
}

/// Kubernetes' Bidirectional mountPropagation as containerd's CRI asks for
/// it: a shared host mount bound with rbind,rshared and rootfsPropagation
/// rshared; a mount the container makes under it appears on the host.
#[test]
fn bidirectional_propagation_reaches_the_host() {
    compare(|c| {
        let (shared, m) = shared_host_mount(c);
        push_mount(
            c,
            json!({"destination": "/shared", "type": "bind", "source": shared, "options": ["rbind", "rshared"]}),
        );
        c.config(|v| v["linux"]["rootfsPropagation"] = "rshared".into());
        add_caps(c, &["CAP_SYS_ADMIN"]);
        c.sh("mount -t tmpfs -o size=1m inner /shared/inner && echo mounted");
        c.see_out("run", &c.rt(&["run", "--bundle", "{bundle}", "{id}"]), &[]);
        c.see(
            "host sees the container's mount",
            host_has_mount(&shared.join("inner")),
        );
        c.rt(&["delete", "--force", "{id}"]);
        drop(m);
        c.see_host("host after cleanup");
    });
}

/// The same config without rshared: nothing comes back to the host.
#[test]
fn rslave_by_default_keeps_container_mounts_in() {
    compare(|c| {
        let (shared, _m) = shared_host_mount(c);
        push_mount(
            c,
            json!({"destination": "/shared", "type": "bind", "source": shared, "options": ["rbind"]}),
        );
        add_caps(c, &["CAP_SYS_ADMIN"]);
        c.sh("mount -t tmpfs -o size=1m inner /shared/inner && echo mounted");
        c.see_out("run", &c.rt(&["run", "--bundle", "{bundle}", "{id}"]), &[]);
        c.see(
            "host sees the container's mount",
            host_has_mount(&shared.join("inner")),
        );
    });
}

/// /proc or /sys on a symlink (CVE-2019-19921, CVE-2023-27561): refused,
/// whatever the link points to, and nothing made where it points.
#[test]
fn proc_and_sys_on_a_symlink_are_refused() {
    for (dir, target) in [
        ("proc", "/tmp/x"),
        ("proc", "../../somewhere"),
        ("sys", "/tmp/y"),
    ] {
        compare(|c| {
            let link = c.bundle.join("rootfs").join(dir);
            std::fs::remove_dir(&link).unwrap();
            std::os::unix::fs::symlink(target, &link).unwrap();
            let out = c.rt(&["run", "--bundle", "{bundle}", "{id}"]);
            c.see_exit(
                "run",
                &out,
                &[&format!("/{dir}"), "must be mounted on ordinary directory"],
            );
            c.see(
                "made where the link points",
                c.bundle.join("rootfs/tmp").read_dir().unwrap().count()
                    + usize::from(c.dir.join("somewhere").exists()),
            );
            c.see_host("host");
        });
    }
}

/// A new proc or sysfs mounted inside a user namespace (its root has
/// CAP_SYS_ADMIN there): the kernel allows it only where a full one of the
/// same kind is already visible in the mount namespace, with no mount
/// locked over a part of it and no read-only locked on (a superblock's
/// read-only counts as locked). The container's own /proc and /sys count,
/// under pivot_root and --no-pivot alike; with --no-pivot the host's, which
/// stay under the moved rootfs, count as well.
#[test]
fn nested_proc_and_sysfs_mounts_with_and_without_pivot() {
    compare_with(
        &[Differ {
            key: "pivot_root: mount -t sysfs",
            berth: "mounted",
            why: "berth makes /sys read-only per mount, not on the superblock (the README's deliberate difference: the superblock is the network namespace's, shared with every sysfs mount of it, such as ip netns exec's); the kernel counts only a superblock's or a locked read-only, so the container's own /sys lets its root mount another view of the same sysfs, as it could remount its /sys read-write; runc 1.1.5 refuses it under pivot_root and allows it with --no-pivot",
        }],
        |c| {
            let rootfs = c.bundle.join("rootfs");
            for d in ["p", "s"] {
                std::fs::create_dir(rootfs.join(d)).unwrap();
            }
            c.config(|v| {
                v["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "user"}));
                let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                v["linux"]["uidMappings"] = map.clone();
                v["linux"]["gidMappings"] = map;
            });
            add_caps(c, &["CAP_SYS_ADMIN"]);
            c.sh("for t in proc sysfs; do \
                    mount -t $t $t /${t%${t#?}} 2>/dev/null && echo $t mounted || echo $t refused; \
                  done");
            let pivot = c.new_id("pivot");
            for (mode, args) in [
                (
                    "pivot_root",
                    vec!["run", "--bundle", "{bundle}", pivot.as_str()],
                ),
                (
                    "--no-pivot",
                    vec!["run", "--no-pivot", "--bundle", "{bundle}", "{id}"],
                ),
            ] {
                let out = c.rt(&args);
                c.see(&format!("{mode}: exit"), out.code);
                for line in out.stdout.lines() {
                    let (fs, what) = line.split_once(' ').unwrap_or((line, ""));
                    c.see(&format!("{mode}: mount -t {fs}"), what);
                }
            }
            c.see_host("host");
        },
    );
}

/// A user namespace (container 0 is host 100000) and bind sources under a
/// directory only the host's root may enter (0700): the runtime opens them
/// before the process enters the user namespace, as runc does.
#[test]
fn bind_sources_only_host_root_reaches_in_a_user_namespace() {
    compare(|c| {
        use std::os::unix::fs::PermissionsExt;
        let secret = c.dir.join("secret");
        std::fs::create_dir_all(secret.join("data")).unwrap();
        std::fs::write(secret.join("data/f"), "in a directory\n").unwrap();
        std::fs::write(secret.join("file"), "a file\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o700)).unwrap();
        // The rootfs is host root's, which the user namespace does not map:
        // the mount points exist already.
        let rootfs = c.bundle.join("rootfs");
        std::fs::create_dir(rootfs.join("data")).unwrap();
        std::fs::write(rootfs.join("file"), "").unwrap();
        c.config(|v| {
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            v["linux"]["uidMappings"] = map.clone();
            v["linux"]["gidMappings"] = map;
        });
        push_mount(
            c,
            json!({"destination": "/data", "type": "bind", "source": secret.join("data"), "options": ["rbind", "ro"]}),
        );
        push_mount(
            c,
            json!({"destination": "/file", "type": "bind", "source": secret.join("file"), "options": ["bind"]}),
        );
        c.sh("cat /data/f /file; id -u; touch /data/new 2>&1 | grep -o 'Read-only file system'");
        let out = c.rt(&["run", "--bundle", "{bundle}", "{id}"]);
        c.see_out("run", &out, &["permission denied"]);
    });
}

/// A /dev tmpfs with "ro": the devices are made, then /dev is read-only.
#[test]
fn read_only_dev_tmpfs() {
    compare(|c| {
        c.config(|v| {
            for m in v["mounts"].as_array_mut().unwrap() {
                if m["destination"] == "/dev" {
                    m["options"].as_array_mut().unwrap().push("ro".into());
                }
            }
        });
        c.sh("ls /dev/null /dev/zero /dev/urandom /dev/pts/ptmx && echo hi > /dev/null && touch /dev/new; \
              grep ' /dev ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1");
        let out = c.rt(&["run", "--bundle", "{bundle}", "{id}"]);
        c.see_out("run", &out, &["Read-only file system"]);
    });
}

/// createContainer hooks run in the rootfs as their working directory.
#[test]
fn create_container_hook_runs_in_the_rootfs() {
    compare(|c| {
        let file = c.dir.join("hook-cwd");
        let script = format!("pwd > {}", file.display());
        c.config(|v| {
            v["hooks"] =
                json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]})
        });
        c.see_out("run", &c.rt(&["run", "--bundle", "{bundle}", "{id}"]), &[]);
        c.see(
            "hook's cwd",
            std::fs::read_to_string(&file).unwrap_or_default(),
        );
    });
}

/// rnosymfollow: a symlink under the mount is not followed (ELOOP).
#[test]
fn rnosymfollow_refuses_symlinks() {
    compare(|c| {
        let tree = c.dir.join("tree");
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        std::fs::write(tree.join("f"), "x\n").unwrap();
        std::os::unix::fs::symlink("f", tree.join("link")).unwrap();
        std::os::unix::fs::symlink("../f", tree.join("sub/link")).unwrap();
        let mut m = HostMounts(vec![]);
        // A mount inside the tree: rnosymfollow reaches it too.
        m.mount(
            &["--bind", tree.join("sub").to_str().unwrap()],
            &tree.join("sub"),
        );
        push_mount(
            c,
            json!({"destination": "/tree", "type": "bind", "source": tree, "options": ["rbind", "rnosymfollow"]}),
        );
        push_mount(
            c,
            json!({"destination": "/top", "type": "bind", "source": tree, "options": ["rbind", "nosymfollow"]}),
        );
        c.sh("for p in /tree/link /tree/sub/link /top/link /top/sub/link; do echo \"$p: $(cat $p 2>&1)\"; done; readlink /tree/link");
        c.see_out("run", &c.rt(&["run", "--bundle", "{bundle}", "{id}"]), &[]);
        c.rt(&["delete", "--force", "{id}"]);
        drop(m);
    });
}
