//! The root filesystem and the config's mounts, read back from
//! /proc/self/mountinfo and used from inside.

use crate::common::Bundle;
use serde_json::json;

/// mountinfo lines of the container: (mount point, per-mount options, rest).
fn mounts(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 6).then(|| (f[4].to_string(), f[5].to_string(), l.to_string()))
        })
        .collect()
}

fn find<'a>(m: &'a [(String, String, String)], point: &str) -> &'a (String, String, String) {
    m.iter()
        .rev()
        .find(|(p, _, _)| p == point)
        .unwrap_or_else(|| panic!("{point} not mounted: {m:#?}"))
}

#[test]
fn default_mounts_with_their_flags() {
    let b = Bundle::new(&["cat", "/proc/self/mountinfo"]);
    let out = b.run(&b.id("mounts"));
    out.ok();
    let m = mounts(&out.stdout);
    let root = find(&m, "/");
    assert!(root.1.starts_with("ro"), "root.readonly: {}", root.2);
    let dev = find(&m, "/dev");
    assert!(
        dev.2.contains(" - tmpfs ") && dev.1.contains("nosuid"),
        "{}",
        dev.2
    );
    assert!(
        dev.2.contains("mode=755") && dev.2.contains("size=65536k"),
        "{}",
        dev.2
    );
    let pts = find(&m, "/dev/pts");
    assert!(
        pts.2.contains(" - devpts ") && pts.1.contains("noexec") && pts.2.contains("ptmxmode=666"),
        "{}",
        pts.2
    );
    let shm = find(&m, "/dev/shm");
    assert!(
        shm.1.contains("nodev") && shm.1.contains("noexec") && shm.1.contains("nosuid"),
        "{}",
        shm.2
    );
    assert!(find(&m, "/dev/mqueue").2.contains(" - mqueue "));
    let sys = find(&m, "/sys");
    assert!(
        sys.1.starts_with("ro") && sys.2.contains(" - sysfs "),
        "{}",
        sys.2
    );
    let cg = find(&m, "/sys/fs/cgroup");
    assert!(cg.1.starts_with("ro"), "{}", cg.2);
    assert!(find(&m, "/proc").2.contains(" - proc "));
    for ro in ["/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq"] {
        assert!(find(&m, ro).1.starts_with("ro"), "readonlyPaths {ro}");
    }
}

#[test]
fn masked_paths_show_nothing() {
    let b = Bundle::sh(
        "wc -c < /proc/keys; ls -A /sys/firmware | wc -l; echo x > /proc/keys && echo wrote",
    );
    let out = b.run(&b.id("masked"));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0].trim(), "0", "/proc/keys reads as /dev/null");
    assert_eq!(lines[1].trim(), "0", "/sys/firmware is an empty tmpfs");
    assert!(
        out.stdout.contains("wrote"),
        "writes to /dev/null succeed and vanish"
    );
    assert!(std::fs::read_to_string("/proc/keys").is_ok());
}

#[test]
fn readonly_root_refuses_writes() {
    let b = Bundle::sh("touch /x 2>&1; echo rc=$?; touch /dev/shm/ok && echo shm-ok");
    let out = b.run(&b.id("ro-root"));
    assert!(
        out.stdout.contains("Read-only file system"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("shm-ok"));
    assert!(!b.path.join("rootfs/x").exists());
}

#[test]
fn bind_mounts_of_host_files_and_directories() {
    let b = Bundle::sh(
        "cat /data/hello /etc/host-file; touch /data/new && echo rw; touch /ro/x 2>/dev/null || echo ro-refused; cat /proc/self/mountinfo",
    );
    let data = b.path.join("data");
    let ro = b.path.join("ro");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::write(data.join("hello"), "hello\n").unwrap();
    std::fs::write(b.path.join("file"), "file\n").unwrap();
    b.config(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "type": "bind", "source": data, "options": ["rbind", "rw"]}));
        // A relative source is relative to the bundle; the target file is made.
        m.push(json!({"destination": "/etc/host-file", "type": "bind", "source": "file", "options": ["bind", "ro"]}));
        m.push(json!({"destination": "/ro", "type": "none", "source": ro, "options": ["rbind", "ro", "nosuid", "noexec", "nodev"]}));
    });
    let out = b.run(&b.id("binds"));
    out.ok();
    assert!(
        out.stdout.starts_with("hello\nfile\nrw\nro-refused\n"),
        "{}",
        out.stdout
    );
    assert!(data.join("new").exists());
    let m = mounts(&out.stdout);
    assert!(find(&m, "/etc/host-file").1.starts_with("ro"));
    let r = find(&m, "/ro");
    assert!(
        r.1.starts_with("ro")
            && r.1.contains("nosuid")
            && r.1.contains("nodev")
            && r.1.contains("noexec"),
        "{}",
        r.2
    );
}

#[test]
fn recursive_read_only_and_propagation() {
    // A host tree with a mount inside it, bound with rro: both read-only.
    let b = Bundle::sh(
        "touch /tree/a 2>/dev/null || echo top-ro; touch /tree/sub/b 2>/dev/null || echo sub-ro; cat /proc/self/mountinfo",
    );
    let tree = b.path.join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(tree.join("sub"))
        .status()
        .unwrap();
    assert!(st.success());
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _u = Unmount(tree.join("sub"));
    b.config(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/tree", "type": "bind", "source": tree, "options": ["rbind", "rro", "rprivate"]}));
    });
    let out = b.run(&b.id("rro"));
    out.ok();
    assert!(
        out.stdout.contains("top-ro") && out.stdout.contains("sub-ro"),
        "{}",
        out.stdout
    );
    let m = mounts(&out.stdout);
    let t = find(&m, "/tree/sub");
    assert!(
        !t.2.contains("shared:") && !t.2.contains("master:"),
        "rprivate: {}",
        t.2
    );
}

#[test]
fn rootfs_propagation_applies_after_pivot() {
    for (prop, want) in [
        ("shared", "shared:"),
        ("unbindable", "unbindable"),
        ("private", ""),
    ] {
        let b = Bundle::new(&["cat", "/proc/self/mountinfo"]);
        b.config(|c| c["linux"]["rootfsPropagation"] = prop.into());
        let out = b.run(&b.id("rprop"));
        out.ok();
        let root = find(&mounts(&out.stdout), "/").2.clone();
        if want.is_empty() {
            assert!(
                !root.contains("shared:") && !root.contains("master:"),
                "{prop}: {root}"
            );
        } else {
            assert!(root.contains(want), "{prop}: {root}");
        }
    }
}

#[test]
fn no_pivot_moves_and_chroots() {
    let b = Bundle::sh("ls /bin/busybox && cat /proc/self/mountinfo | wc -l");
    let bundle = b.path.to_str().unwrap().to_string();
    let id = b.id("nopivot");
    let out = b.berth(&["run", "--no-pivot", "--bundle", &bundle, &id]);
    out.ok();
    assert!(out.stdout.starts_with("/bin/busybox\n"));
}

#[test]
fn default_devices_and_links() {
    let b = Bundle::sh(
        "ls -l /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done; head -c 4 /dev/zero | wc -c",
    );
    let out = b.run(&b.id("devices"));
    out.ok();
    for (name, nums) in [
        ("null", "1,   3"),
        ("zero", "1,   5"),
        ("full", "1,   7"),
        ("random", "1,   8"),
        ("urandom", "1,   9"),
        ("tty", "5,   0"),
    ] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.ends_with(&format!("/dev/{name}")))
            .unwrap();
        assert!(
            line.starts_with("crw-rw-rw-") && line.contains(nums),
            "{line}"
        );
    }
    assert!(
        out.stdout.contains(
            "pts/ptmx\n/proc/self/fd\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\n"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.ends_with("4\n"));
}

#[test]
fn linux_devices_are_made() {
    let b = Bundle::sh("ls -ln /dev/fuse /dev/mydir/loopx");
    b.config(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600, "uid": 5, "gid": 6},
            {"path": "/dev/mydir/loopx", "type": "b", "major": 7, "minor": 0}
        ]);
    });
    let out = b.run(&b.id("lxdev"));
    out.ok();
    let fuse = out
        .stdout
        .lines()
        .find(|l| l.ends_with("/dev/fuse"))
        .unwrap();
    assert!(
        fuse.starts_with("crw-------")
            && fuse.contains(" 5 ")
            && fuse.contains(" 6 ")
            && fuse.contains("10, 229"),
        "{fuse}"
    );
    let loopx = out
        .stdout
        .lines()
        .find(|l| l.ends_with("/dev/mydir/loopx"))
        .unwrap();
    assert!(
        loopx.starts_with("brw-rw-rw-") && loopx.contains("7,   0"),
        "{loopx}"
    );
}

#[test]
fn symlinks_in_the_rootfs_never_lead_out_of_it() {
    // /evil -> /tmp/outside-of-rootfs on the host: the mount must land in the rootfs.
    let b = Bundle::sh("ls -d /escape/inside && echo inside");
    let outside = b.path.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, b.path.join("rootfs/escape")).unwrap();
    b.config(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/escape/inside", "type": "tmpfs", "source": "tmpfs"}));
    });
    let out = b.run(&b.id("escape"));
    out.ok();
    assert!(
        !outside.join("inside").exists(),
        "nothing was created outside the rootfs"
    );
    assert!(
        b.path
            .join("rootfs")
            .join(outside.strip_prefix("/").unwrap())
            .join("inside")
            .is_dir()
    );
}

#[test]
fn overlay_from_bundle_directories() {
    let b = Bundle::sh(
        "cat /layered/lower /layered/upper; echo new > /layered/created; cat /proc/self/mountinfo",
    );
    for d in ["lower", "upper", "work"] {
        std::fs::create_dir_all(b.path.join(d)).unwrap();
    }
    std::fs::write(b.path.join("lower/lower"), "from lower\n").unwrap();
    std::fs::write(b.path.join("upper/upper"), "from upper\n").unwrap();
    b.config(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/layered", "type": "overlay", "source": "overlay",
            "options": ["lowerdir=lower", "upperdir=upper", "workdir=work"]
        }));
    });
    let out = b.run(&b.id("overlay"));
    out.ok();
    assert!(
        out.stdout.starts_with("from lower\nfrom upper\n"),
        "{}",
        out.stdout
    );
    assert_eq!(
        std::fs::read_to_string(b.path.join("upper/created")).unwrap(),
        "new\n"
    );
    assert!(
        find(&mounts(&out.stdout), "/layered")
            .2
            .contains(" - overlay ")
    );
}

#[test]
fn sysctls_are_written_in_the_namespace() {
    let b = Bundle::sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax");
    b.config(|c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "12345"})
    });
    let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let host_msg = std::fs::read_to_string("/proc/sys/kernel/msgmax").unwrap();
    let out = b.run(&b.id("sysctl"));
    out.ok();
    assert_eq!(out.stdout, "1\n12345\n");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_fwd
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/msgmax").unwrap(),
        host_msg
    );
}

#[test]
fn cgroup_mount_shows_the_container_cgroups_read_only() {
    let v2 = crate::common::cgroup_v2();
    let top = if v2 {
        "/sys/fs/cgroup"
    } else {
        "/sys/fs/cgroup/pids"
    };
    let b = Bundle::sh(&format!(
        "ls /sys/fs/cgroup; cat {top}/cgroup.procs; mkdir {top}/x 2>/dev/null || echo refused"
    ));
    let out = b.run(&b.id("cgmount"));
    out.ok();
    // v1: a directory per hierarchy; v2: the container's cgroup itself,
    // with the files of the controllers berth enabled above it.
    let want: &[&str] = if v2 {
        &["cgroup.procs", "memory.max", "pids.max", "cpu.max"]
    } else {
        &["cpu", "memory", "pids", "devices", "systemd", "unified"]
    };
    for h in want {
        assert!(out.stdout.lines().any(|l| l == *h), "{h} in {}", out.stdout);
    }
    assert!(
        out.stdout.contains("\n1\n"),
        "the container's own cgroup: {}",
        out.stdout
    );
    assert!(out.stdout.ends_with("refused\n"));
}

#[test]
fn without_a_mount_namespace_the_host_gets_its_mounts_back() {
    let b = Bundle::sh("grep -c . /proc/self/mountinfo; touch /x 2>/dev/null || echo root-ro");
    b.config(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "mount")
    });
    let id = b.id("no-mntns");
    let out = b.run(&id);
    out.ok();
    assert!(out.stdout.contains("root-ro"), "{}", out.stdout);
    // The container's mounts were the host's; delete (run's) took them all off,
    // and root.readonly applied to berth's bind of the rootfs, not to the
    // host's filesystem under it.
    b.assert_no_leftovers(&id);
    std::fs::write(b.path.join("rootfs/writable"), "x")
        .expect("the host's filesystem stays writable");
}

#[test]
fn idmapped_bind_mounts() {
    // Files owned by host root, seen from a user namespace mapping 0 to
    // 100000: a plain bind shows them as nobody, an idmap bind as root, and
    // a bind with its own mappings as whoever those say.
    let b = Bundle::sh(
        "stat -c %u /plain/f /idmap/f /own/f; touch /idmap/new && stat -c %u /idmap/new",
    );
    let data = b.path.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), "x").unwrap();
    let own = b.path.join("own");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(own.join("f"), "x").unwrap();
    // Container root is unmapped host-side: it cannot make these itself.
    for d in ["plain", "idmap", "own"] {
        std::fs::create_dir_all(b.path.join("rootfs").join(d)).unwrap();
    }
    b.config(|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/plain", "type": "bind", "source": data, "options": ["bind"]}));
        m.push(json!({"destination": "/idmap", "type": "bind", "source": data, "options": ["bind", "idmap"]}));
        m.push(json!({"destination": "/own", "type": "bind", "source": own, "options": ["rbind", "ridmap"],
                      "uidMappings": [{"containerID": 0, "hostID": 101000, "size": 1}],
                      "gidMappings": [{"containerID": 0, "hostID": 101000, "size": 1}]}));
    });
    let out = b.run(&b.id("idmap"));
    out.ok();
    let l: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(l, ["65534", "0", "1000", "0"], "{}", out.stdout);
    // What container root creates through the idmapped mount is host root's.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(data.join("new")).unwrap().uid(), 0);
}

#[test]
fn bind_sources_berth_opens_for_a_user_namespace() {
    // A read-only host mount under a directory only host root may enter,
    // bound into a user namespace: berth opens it for the container
    // process, on the process's own copy of the mount, so the read-only
    // flag the host set stays locked there even for a root with
    // CAP_SYS_ADMIN, and the fd never reaches the container's program.
    let b = Bundle::sh(
        "cat /locked/f; ls /proc/self/fd | tr '\\n' ' '; echo; \
         mount -o remount,bind,rw /locked 2>/dev/null && echo remounted; \
         touch /locked/new 2>/dev/null && echo wrote; echo end",
    );
    use std::os::unix::fs::PermissionsExt;
    let secret = b.path.join("secret");
    let locked = secret.join("locked");
    std::fs::create_dir_all(&locked).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mount = |args: &[&str]| {
        let st = std::process::Command::new("mount")
            .args(args)
            .arg(&locked)
            .status()
            .unwrap();
        assert!(st.success(), "mount {args:?}");
    };
    mount(&["-t", "tmpfs", "-o", "size=1m", "tmpfs"]);
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _u = Unmount(locked.clone());
    std::fs::write(locked.join("f"), "host\n").unwrap();
    mount(&["-o", "remount,ro"]);
    std::fs::create_dir(b.path.join("rootfs/locked")).unwrap();
    b.config(|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_SYS_ADMIN"));
        }
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/locked", "type": "bind", "source": locked, "options": ["rbind"]}),
        );
    });
    let out = b.run(&b.id("sources"));
    out.ok();
    assert_eq!(out.stdout, "host\n0 1 2 3 \nend\n");
}

#[test]
fn idmap_on_a_non_bind_mount_is_refused() {
    let b = Bundle::new(&["true"]);
    b.config(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}),
        )
    });
    let out = b.create(&b.id("idmap-tmpfs"));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("mounts[7].options: idmap and ridmap apply to bind mounts only"),
        "{}",
        out.stderr
    );
}

#[test]
fn tmpcopyup_brings_the_rootfs_content_into_the_tmpfs() {
    let b = Bundle::sh(
        "cat /etc/app/conf /etc/app/sub/deep; readlink /etc/app/link; stat -c '%a %u' /etc/app/sub; echo new > /etc/app/added; cat /proc/self/mountinfo",
    );
    let app = b.path.join("rootfs/etc/app");
    std::fs::create_dir_all(app.join("sub")).unwrap();
    std::fs::write(app.join("conf"), "conf\n").unwrap();
    std::fs::write(app.join("sub/deep"), "deep\n").unwrap();
    std::os::unix::fs::symlink("conf", app.join("link")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(app.join("sub"), std::fs::Permissions::from_mode(0o751)).unwrap();
    std::os::unix::fs::chown(app.join("sub"), Some(7), Some(7)).unwrap();
    b.config(|c| c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/etc/app", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]})));
    let out = b.run(&b.id("copyup"));
    out.ok();
    assert!(
        out.stdout.starts_with("conf\ndeep\nconf\n751 7\n"),
        "{}",
        out.stdout
    );
    assert!(
        find(&mounts(&out.stdout), "/etc/app")
            .2
            .contains(" - tmpfs ")
    );
    assert!(
        !app.join("added").exists(),
        "writes go to the tmpfs, not the rootfs"
    );
}
