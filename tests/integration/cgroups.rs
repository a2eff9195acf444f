//! The container's cgroup: where it is, that the process is in it from the
//! start, device rules, and that delete removes it.

use crate::common::{Bundle, cgroup_file, cgroup_v2, run_with_timeout};
use serde_json::json;

/// A file of the container's cgroup as the container sees it through the
/// default `cgroup` mount: per hierarchy on v1, the cgroup itself on v2.
fn inside(controller: &str, v1_file: &str, v2_file: &str) -> String {
    if cgroup_v2() {
        format!("/sys/fs/cgroup/{v2_file}")
    } else {
        format!("/sys/fs/cgroup/{controller}/{v1_file}")
    }
}

#[test]
fn process_is_in_its_cgroup_in_every_hierarchy() {
    let b = Bundle::new(&["cat", "/proc/self/cgroup"]);
    let id = b.id("cg");
    b.config(|c| {
        c["linux"]["cgroupsPath"] = format!("/berth-test/{id}").into();
        crate::common::host_cgroupns(c);
    });
    let out = b.run(&id);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    // Every v1 hierarchy and the unified tree, or the one v2 line.
    assert!(
        lines.len() >= if cgroup_v2() { 1 } else { 9 },
        "{}",
        out.stdout
    );
    for l in lines {
        assert!(l.ends_with(&format!(":/berth-test/{id}")), "{l}");
    }
    for d in b.cgroup_dirs(&format!("/berth-test/{id}")) {
        assert!(!d.exists(), "{} removed", d.display());
    }
    // The test's own parent; berth only removes its default /berth.
    for d in b.cgroup_dirs("/berth-test") {
        let _ = std::fs::remove_dir(d);
    }
}

#[test]
fn relative_cgroups_path_goes_under_berth() {
    let b = Bundle::new(&["cat", "/proc/self/cgroup"]);
    let id = b.id("cgrel");
    b.config(|c| {
        c["linux"]["cgroupsPath"] = format!("rel/{id}").into();
        crate::common::host_cgroupns(c);
    });
    let out = b.run(&id);
    out.ok();
    assert!(
        out.stdout
            .lines()
            .all(|l| l.ends_with(&format!(":/berth/rel/{id}"))),
        "{}",
        out.stdout
    );
    for d in b.cgroup_dirs(&format!("/berth/rel/{id}")) {
        assert!(!d.exists());
    }
}

#[test]
fn device_rules_are_written_in_order_and_enforced() {
    // /dev/kmsg is no default device: the user's rules alone decide.
    let b = Bundle::sh(
        "head -c1 /dev/zero >/dev/null && echo zero-ok; head -c1 /dev/kmsg 2>&1; cat /sys/fs/cgroup/devices/devices.list 2>/dev/null; true",
    );
    b.config(|c| {
        c["linux"]["devices"] =
            json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]);
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "r"}
        ]);
    });
    let id = b.id("devrules");
    let out = b.run(&id);
    assert!(out.stdout.contains("zero-ok"), "{}", out.stdout);
    assert!(
        out.stdout.contains("/dev/kmsg: Operation not permitted"),
        "reading is denied: {}",
        out.stdout
    );
    if !cgroup_v2() {
        // 1:11 was allowed rwm, then r denied: "wm" is what is left of it.
        assert!(
            out.stdout.lines().any(|l| l == "c 1:11 wm"),
            "{}",
            out.stdout
        );
        assert!(!out.stdout.contains("a *:* rwm"), "{}", out.stdout);
    }
    b.assert_no_leftovers(&id);
}

/// Access letters beyond r, w and m, as runc 1.1.5 takes them: dropped on
/// v1 (the kernel's list shows what is left), refused on v2 with an error
/// naming the rule (the eBPF filter has no other access). The compat
/// scenario cgroups::device_access_beyond_rwm_on_v1 compares v1 with runc;
/// this is the v2 half, which only `make test-v2` can run.
#[test]
fn device_access_beyond_rwm() {
    let b = Bundle::sh("cat /sys/fs/cgroup/devices/devices.list 2>/dev/null; true");
    b.config(|c| {
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rwx"}
        ]);
    });
    let id = b.id("devaccess");
    let out = b.run(&id);
    if cgroup_v2() {
        assert_ne!(out.code, 0, "{out:?}");
        // The error is a logrus line, its quotes escaped.
        let said = out.stderr.replace("\\\"", "\"");
        assert!(
            said.contains(
                r#"linux.resources.devices[1].access: "rwx" is not a combination of r, w and m"#
            ),
            "{}",
            out.stderr
        );
    } else {
        out.ok();
        assert!(
            out.stdout.lines().any(|l| l == "c 1:11 rw"),
            "{}",
            out.stdout
        );
    }
    b.assert_no_leftovers(&id);
}

/// Runs `script` in a container with these linux.resources; returns its output.
fn with_resources(
    name: &str,
    resources: serde_json::Value,
    script: &str,
) -> (crate::common::Out, String) {
    let b = Bundle::sh(script);
    b.config(|c| {
        for (k, v) in resources.as_object().unwrap() {
            c["linux"]["resources"][k] = v.clone();
        }
    });
    let id = b.id(name);
    // A wider bound than berth's usual minute: near a memory limit the
    // kernel reclaims page cache again and again before it OOM-kills, and in
    // the v2 guest under TCG on a loaded machine that once took over 60 s.
    let bundle = b.path.to_str().unwrap();
    let out = run_with_timeout(
        b.cmd(&["run", "--bundle", bundle, &id]),
        std::time::Duration::from_secs(240),
    );
    b.assert_no_leftovers(&id);
    (out, id)
}

/// A container whose first process the OOM killer takes: `run` exits as
/// it died (137, SIGKILL) and says who killed it, with the limit.
#[test]
fn run_says_when_the_oom_killer_killed_its_process() {
    const M: i64 = 1024 * 1024;
    // The first process volunteers as the victim and grows past the limit.
    let (out, _) = with_resources(
        "oomrun",
        json!({"memory": {"limit": 16 * M, "swap": 16 * M}}),
        "echo 1000 > /proc/self/oom_score_adj; x=$(head -c 40000000 /dev/zero | tr \"\\0\" a); echo survived",
    );
    assert_eq!(out.code, 137, "{out:?}");
    assert!(
        out.stderr.contains(
            "the OOM killer killed a process in it; its memory limit is 16 MiB (16777216 bytes)"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn memory_limit_is_in_the_file_and_stops_an_allocation() {
    const M: i64 = 1024 * 1024;
    // The allocating shell and its pipeline volunteer as the OOM killer's
    // victims (raising one's own oom_score_adj needs no privilege), so the
    // container's first process survives to report what happened; without
    // that the kernel may pick it and the container ends with 137.
    let alloc = "sh -c 'echo 1000 > /proc/self/oom_score_adj; x=$(head -c 40000000 /dev/zero | tr \"\\0\" a); echo survived ${#x}'";
    let (out, want): (_, Vec<String>) = if cgroup_v2() {
        // v2: swap.max is swap minus memory (runc's conversion); no kernel
        // TCP or swappiness files exist there.
        let (out, _) = with_resources(
            "mem",
            json!({"memory": {"limit": 16 * M, "swap": 24 * M, "reservation": 8 * M}}),
            &format!(
                "cd /sys/fs/cgroup; cat memory.max memory.swap.max memory.low; {alloc}; grep oom_kill memory.events"
            ),
        );
        (
            out,
            vec![
                (16 * M).to_string(),
                (8 * M).to_string(),
                (8 * M).to_string(),
            ],
        )
    } else {
        let (out, _) = with_resources(
            "mem",
            json!({"memory": {"limit": 16 * M, "swap": 16 * M, "reservation": 8 * M, "kernelTCP": 4 * M, "swappiness": 0}}),
            &format!(
                "cd /sys/fs/cgroup/memory; cat memory.limit_in_bytes memory.memsw.limit_in_bytes memory.soft_limit_in_bytes memory.kmem.tcp.limit_in_bytes memory.swappiness; {alloc}; grep oom_kill memory.oom_control"
            ),
        );
        (
            out,
            vec![
                (16 * M).to_string(),
                (16 * M).to_string(),
                (8 * M).to_string(),
                (4 * M).to_string(),
                "0".into(),
            ],
        )
    };
    let l: Vec<&str> = out.stdout.lines().collect();
    assert!(l.len() > want.len(), "{out:?}");
    assert_eq!(
        &l[..want.len()],
        want.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        "{}",
        out.stdout
    );
    // The kernel kills the largest process of the cgroup: the shell holding
    // the string (most often) or a process of its pipeline; either way the
    // 40 MB never fit.
    assert!(!out.stdout.contains("survived 40000000"), "{}", out.stdout);
    let kills: u64 = l
        .iter()
        .find(|l| l.starts_with("oom_kill "))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(kills >= 1, "{}", out.stdout);
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let (out, _) = with_resources(
        "pids",
        json!({"pids": {"limit": 5}}),
        // A shell that forks until it cannot: it dies at the fifth task.
        &format!(
            "sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; echo all-forked' 2>/dev/null; echo inner=$?; \
             cat {} {}; grep max {}; kill $(pidof sleep)",
            inside("pids", "pids.max", "pids.max"),
            inside("pids", "pids.current", "pids.current"),
            inside("pids", "pids.events", "pids.events")
        ),
    );
    out.ok();
    let l: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        l[0], "inner=2",
        "the forking shell failed to fork: {}",
        out.stdout
    );
    assert_eq!(l[1], "5");
    assert_eq!(
        l[2], "5",
        "this shell, three sleeps and cat: {}",
        out.stdout
    );
    let denied: u64 = l[3].split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(denied >= 1, "{}", out.stdout);
}

#[test]
fn cpu_quota_throttles() {
    let files = if cgroup_v2() {
        "cpu.max cpu.weight cpuset.cpus".to_string()
    } else {
        "cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpu/cpu.shares cpuset/cpuset.cpus".to_string()
    };
    let (out, _) = with_resources(
        "cpu",
        json!({"cpu": {"quota": 10000, "period": 100000, "shares": 512, "cpus": "0", "mems": "0"}}),
        &format!(
            "cd /sys/fs/cgroup; cat {files}; grep Cpus_allowed_list /proc/self/status; \
             timeout 1 sh -c 'while :; do :; done'; grep nr_throttled {}",
            inside("cpu", "cpu.stat", "cpu.stat").trim_start_matches("/sys/fs/cgroup/")
        ),
    );
    let l: Vec<&str> = out.stdout.lines().collect();
    // 512 shares is weight 1 + (510 * 9999) / 262142 = 20 on v2.
    let want: &[&str] = if cgroup_v2() {
        &["10000 100000", "20", "0"]
    } else {
        &["10000", "100000", "512", "0"]
    };
    assert!(l.len() >= want.len() + 2, "{out:?}");
    assert_eq!(&l[..want.len()], want, "{}", out.stdout);
    assert!(l[want.len()].ends_with("\t0"), "{}", l[want.len()]);
    let throttled: u64 = l[want.len() + 1]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        throttled > 0,
        "a busy loop at 10% of a cpu is throttled: {}",
        out.stdout
    );
}

#[test]
fn tiny_limits_leave_room_for_the_program_alone() {
    // Nothing of berth's stays in the cgroup once the program execs: 1 MiB
    // and a single task are enough for /bin/true.
    let (out, _) = with_resources(
        "tiny",
        json!({"memory": {"limit": 1024 * 1024}, "pids": {"limit": 1}}),
        "exec /bin/true",
    );
    assert_eq!(out.code, 0, "{out:?}");
}

/// A real block device of this machine (its root's, or on the v2 guest,
/// whose root is a network filesystem, that of the tests' TMPDIR).
fn block_device() -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    for p in [std::path::PathBuf::from("/"), std::env::temp_dir()] {
        let dev = std::fs::metadata(&p).unwrap().dev();
        let (maj, min) = (libc::major(dev), libc::minor(dev));
        if std::path::Path::new(&format!("/sys/dev/block/{maj}:{min}")).exists() {
            return (maj, min);
        }
    }
    panic!(
        "no block device under / or {}",
        std::env::temp_dir().display()
    );
}

#[test]
fn block_io_throttle_on_a_real_device() {
    // Throttling needs no blkio.weight, which this host lacks.
    let (maj, min) = block_device();
    let file = if cgroup_v2() {
        "/sys/fs/cgroup/io.max".to_string()
    } else {
        "/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device".to_string()
    };
    let (out, _) = with_resources(
        "blkio",
        json!({"blockIO": {"throttleReadBpsDevice": [{"major": maj, "minor": min, "rate": 1048576}],
                            "throttleWriteIOPSDevice": [{"major": maj, "minor": min, "rate": 100}]}}),
        &format!("cat {file}"),
    );
    out.ok();
    if cgroup_v2() {
        assert_eq!(
            out.stdout,
            format!("{maj}:{min} rbps=1048576 wbps=max riops=max wiops=100\n")
        );
    } else {
        assert_eq!(
            out.stdout,
            format!("{maj}:{min} 1048576\n{maj}:{min} 100\n")
        );
    }
}

#[test]
fn what_the_host_cannot_honour_is_an_error_naming_the_field() {
    // This host has no blkio.weight, no hugetlb or net_cls/net_prio v1
    // hierarchies, and runs cgroup v1 (no unified resources); the v2 guest
    // has neither net_cls nor kernel memory limits, and no rdma hardware.
    let cases = if cgroup_v2() {
        vec![
            (
                json!({"network": {"classID": 1048577}}),
                "linux.resources.network: cgroup v2 has no net_cls or net_prio controller",
            ),
            (
                json!({"memory": {"limit": 100000000, "kernel": 1000000}}),
                "linux.resources.memory.kernel: cgroup v2 has no kernel memory limit",
            ),
            (
                json!({"unified": {"nosuch.file": "1"}}),
                "linux.resources.unified.nosuch.file: the container's cgroup has no nosuch.file",
            ),
            (
                json!({"rdma": {"mlx4_0": {"hcaHandles": 2}}}),
                "linux.resources.rdma.mlx4_0: write",
            ),
        ]
    } else {
        vec![
            (
                json!({"blockIO": {"weight": 500}}),
                "linux.resources.blockIO.weight: this kernel's blkio controller has no blkio.weight",
            ),
            (
                json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 1048576}]}),
                "linux.resources.hugepageLimits[0]: the hugetlb cgroup controller is not mounted",
            ),
            (
                json!({"network": {"classID": 1048577}}),
                "linux.resources.network.classID: the net_cls cgroup controller is not mounted",
            ),
            (
                json!({"unified": {"memory.high": "1000000"}}),
                "linux.resources.unified: unified resources need a cgroup v2 host",
            ),
            (
                json!({"rdma": {"mlx4_0": {"hcaHandles": 2}}}),
                "linux.resources.rdma.mlx4_0: the rdma cgroup controller is not mounted",
            ),
        ]
    };
    for (res, want) in cases {
        let (out, _) = with_resources("cannot", res, "true");
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains(want),
            "expected {want:?} in {}",
            out.stderr
        );
    }
}

#[test]
fn unified_resources_on_v2() {
    if !cgroup_v2() {
        return; // covered above: an error on v1
    }
    let (out, _) = with_resources(
        "unified",
        json!({"unified": {"memory.high": "50000000", "pids.max": "7"}}),
        "cat /sys/fs/cgroup/memory.high /sys/fs/cgroup/pids.max",
    );
    out.ok();
    assert_eq!(
        out.stdout, "49999872\n7\n",
        "memory.high rounds down to pages"
    );
}

/// A detached container whose /data is a host directory of the test's.
fn detached(
    name: &str,
    script: &str,
    resources: serde_json::Value,
) -> (Bundle, String, std::path::PathBuf) {
    let b = Bundle::sh(script);
    let data = b.path.join("data");
    std::fs::create_dir_all(&data).unwrap();
    b.config(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/data", "type": "bind", "source": data, "options": ["rbind"]}),
        );
        for (k, v) in resources.as_object().unwrap() {
            c["linux"]["resources"][k] = v.clone();
        }
    });
    let id = b.id(name);
    b.run_detached(&id);
    (b, id, data)
}

/// Up to 60 s: under the v2 guest's emulated CPU a 40 MB allocation alone
/// takes seconds.
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..6000 {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

fn count(data: &std::path::Path) -> u64 {
    std::fs::read_to_string(data.join("count"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn pause_stops_the_counter_until_resume() {
    let (b, id, data) = detached(
        "pause",
        "i=0; while :; do i=$((i+1)); echo $i > /data/count; sleep 0.01; done",
        json!({}),
    );
    wait_for("the counter", || count(&data) > 3);
    b.berth(&["pause", &id]).ok();
    assert_eq!(b.status(&id), "paused");
    assert!(
        b.berth(&["list"])
            .stdout
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("paused"))
    );
    let frozen = count(&data);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        count(&data),
        frozen,
        "a paused container's counter does not advance"
    );
    assert_ne!(
        b.berth(&["pause", &id]).code,
        0,
        "pausing twice is an error"
    );
    b.berth(&["resume", &id]).ok();
    assert_eq!(b.status(&id), "running");
    wait_for("the counter to move again", || count(&data) > frozen);
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

#[test]
fn ps_lists_the_container_processes() {
    let (b, id, _) = detached("ps", "sleep 1000 & sleep 1000; wait", json!({}));
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    wait_for("two processes", || {
        let out = b.berth(&["ps", "--format", "json", &id]);
        serde_json::from_str::<Vec<i64>>(&out.stdout)
            .map(|v| v.len() == 3)
            .unwrap_or(false)
    });
    let pids: Vec<i64> =
        serde_json::from_str(&b.berth(&["ps", "--format", "json", &id]).stdout).unwrap();
    assert!(pids.contains(&pid));
    let out = b.berth(&["ps", &id]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].contains("PID"), "{}", out.stdout);
    assert_eq!(lines.len(), 4, "header, sh and two sleeps: {}", out.stdout);
    let out = b.berth(&["ps", &id, "--", "-o", "pid,comm"]);
    assert!(
        out.stdout.lines().filter(|l| l.contains("sleep")).count() == 2,
        "{}",
        out.stdout
    );
}

#[test]
fn events_report_stats_and_oom_kills() {
    let (b, id, data) = detached(
        "events",
        "while [ ! -e /data/go ]; do sleep 0.02; done; sh -c 'echo 1000 > /proc/self/oom_score_adj; x=$(head -c 40000000 /dev/zero | tr \"\\0\" a)'; sleep 1000",
        json!({"memory": {"limit": 16 * 1024 * 1024, "swap": 16 * 1024 * 1024}}),
    );
    let out = b.berth(&["events", "--stats", &id]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], id.as_str());
    assert!(
        v["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert_eq!(v["data"]["memory"]["usage"]["limit"], 16 * 1024 * 1024);
    assert!(v["data"]["pids"]["current"].as_u64().unwrap() >= 1, "{v}");
    assert!(
        v["data"]["cpu"]["usage"]["total"].as_u64().unwrap() > 0,
        "{v}"
    );

    let log = b.path.join("events.log");
    let mut watcher = b
        .cmd(&["events", "--interval", "100ms", &id])
        .stdout(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for("a stats event", || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("\"type\":\"stats\"")
    });
    std::fs::write(data.join("go"), "").unwrap();
    wait_for("an oom event", || {
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .any(|l| l == format!("{{\"type\":\"oom\",\"id\":\"{id}\"}}"))
    });
    b.berth(&["delete", "--force", &id]).ok();
    // events ends by itself once the container is gone.
    let status = watcher.wait().unwrap();
    assert!(status.success());
    b.assert_no_leftovers(&id);
}

#[test]
fn update_changes_a_running_container() {
    let (b, id, _) = detached(
        "update",
        "sleep 1000",
        json!({"memory": {"limit": 64 * 1024 * 1024}}),
    );
    let cg = format!("/berth/{id}");
    let read = |c: &str, f: &str| {
        std::fs::read_to_string(cgroup_file(c, &cg, f))
            .unwrap()
            .trim()
            .to_string()
    };
    let v2 = cgroup_v2();
    let (mem, quota) = if v2 {
        ("memory.max", "cpu.max")
    } else {
        ("memory.limit_in_bytes", "cpu.cfs_quota_us")
    };
    let want_quota = if v2 { "20000 100000" } else { "20000" };
    b.berth(&[
        "update",
        "--memory",
        "32m",
        "--pids-limit",
        "10",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        &id,
    ])
    .ok();
    assert_eq!(read("memory", mem), (32 * 1024 * 1024).to_string());
    assert_eq!(read("pids", "pids.max"), "10");
    assert_eq!(read("cpu", quota), want_quota);
    // docker's update: zeros mean "leave it", the rest applies (on v1,
    // memory+swap above the current limit is raised first; on v2 swap.max
    // is what swap adds to memory).
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/docker-update.resources.json");
    let mut cmd = b.cmd(&["update", "--resources", "-", &id]);
    cmd.stdin(std::fs::File::open(&fixture).unwrap());
    assert!(run_with_timeout(cmd, std::time::Duration::from_secs(30)).code == 0);
    assert_eq!(read("memory", mem), "100663296");
    if v2 {
        assert_eq!(
            read("memory", "memory.swap.max"),
            (209715200 - 100663296).to_string()
        );
    } else {
        assert_eq!(read("memory", "memory.memsw.limit_in_bytes"), "209715200");
    }
    assert_eq!(read("pids", "pids.max"), "99");
    assert_eq!(read("cpu", quota), want_quota, "quota 0 leaves it");
    let out = b.berth(&["update", "--blkio-weight", "300", &id]);
    if v2 {
        // io.weight (or io.bfq.weight) exists in the guest.
        assert_eq!(out.code, 0, "{out:?}");
    } else {
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains("linux.resources.blockIO.weight"),
            "{}",
            out.stderr
        );
    }
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}
