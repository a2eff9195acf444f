//! The subcommands on a running container besides the lifecycle: pause,
//! resume, ps, events, update; and spec and features.

use crate::harness::{Differ, compare, compare_with};

/// A running `sleep` under the case's first id.
fn running(c: &mut crate::harness::Case) -> String {
    c.config(|v| v["process"]["args"] = serde_json::json!(["sleep", "100"]));
    let out = c.rt(&["run", "--detach", "--bundle", "{bundle}", "{id}"]);
    c.see_out("run --detach", &out, &[]);
    c.id.clone()
}

#[test]
fn pause_and_resume() {
    compare(|c| {
        let id = running(c);
        c.see_out(
            "resume of a running one",
            &c.rt(&["resume", &id]),
            &["not paused"],
        );
        c.see_out("pause", &c.rt(&["pause", &id]), &[]);
        c.see_state("paused", &id);
        c.see_out("pause again", &c.rt(&["pause", &id]), &["not running"]);
        c.see_out("kill 0 of a paused one", &c.rt(&["kill", &id, "0"]), &[]);
        c.see_out("resume", &c.rt(&["resume", &id]), &[]);
        c.see_state("resumed", &id);
        c.see_out("kill", &c.rt(&["kill", &id, "KILL"]), &[]);
    });
}

#[test]
fn ps_formats() {
    compare(|c| {
        let id = running(c);
        let out = c.rt(&["ps", &id]);
        c.see("ps exit", out.code);
        let lines: Vec<&str> = out.stdout.lines().collect();
        c.see(
            "ps header",
            lines
                .first()
                .map(|h| h.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        );
        c.see("ps rows", lines.len().saturating_sub(1));
        c.see(
            "ps command",
            lines
                .get(1)
                .map(|r| {
                    r.split_whitespace()
                        .rev()
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default(),
        );
        let out = c.rt(&["ps", "--format", "json", &id]);
        c.see("ps json exit", out.code);
        let pids: Vec<i64> = serde_json::from_str(&out.stdout).unwrap_or_default();
        c.see("ps json pids", pids.len());
        let out = c.rt(&["ps", "--format", "json", &id, "--", "-o", "pid"]);
        c.see_exit("ps json with ps options", &out, &[]);
    });
}

#[test]
fn events_stats() {
    compare(|c| {
        let id = running(c);
        let out = c.rt(&["events", "--stats", &id]);
        c.see("events --stats exit", out.code);
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap_or_default();
        c.see(
            "events keys",
            v.as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>().join(","))
                .unwrap_or_default(),
        );
        c.see("events type", &v["type"]);
        c.see("events id", &v["id"]);
        for part in ["cpu", "memory", "pids", "blkio"] {
            c.see(
                &format!("events data has {part}"),
                v["data"].get(part).is_some(),
            );
        }
        c.see(
            "events memory usage > 0",
            v["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        );
        c.see("events pids current", &v["data"]["pids"]["current"]);
    });
}

#[test]
fn update_resources() {
    compare(|c| {
        let id = running(c);
        c.see_out(
            "update --memory",
            &c.rt(&["update", "--memory", "64m", &id]),
            &[],
        );
        c.see_out(
            "update --pids-limit",
            &c.rt(&["update", "--pids-limit", "50", &id]),
            &[],
        );
        let cg = format!("/{}/{id}", crate::harness::CGROUP_PARENT);
        let read = |ctl: &str, f: &str| {
            std::fs::read_to_string(crate::common::cgroup_file(ctl, &cg, f)).unwrap_or_default()
        };
        c.see(
            "memory limit",
            read("memory", "memory.limit_in_bytes").trim(),
        );
        c.see("pids max", read("pids", "pids.max").trim());
        c.see_exit(
            "update --memory garbage",
            &c.rt(&["update", "--memory", "lots", &id]),
            &[],
        );
        c.see_exit(
            "update of a missing id",
            &c.rt(&["update", "--memory", "64m", "nope"]),
            &["does not exist"],
        );
        c.rt(&["kill", &id, "KILL"]);
    });
}

#[test]
fn spec_writes_runc_default() {
    let differ = [
        Differ {
            key: "config.json.hostname",
            berth: "\"berth\"",
            why: "the default hostname names the runtime, as runc's names runc",
        },
        Differ {
            key: "rootless config.json.hostname",
            berth: "\"berth\"",
            why: "the default hostname names the runtime",
        },
    ];
    compare_with(&differ, |c| {
        let dir = c.dir.join("spec");
        std::fs::create_dir(&dir).unwrap();
        let d = dir.to_str().unwrap().to_string();
        c.see_out("spec", &c.rt(&["spec", "--bundle", &d]), &[]);
        let text = std::fs::read_to_string(dir.join("config.json")).unwrap_or_default();
        c.see_json_text("config.json", &text);
        c.see_exit("spec again", &c.rt(&["spec", "--bundle", &d]), &["exists"]);
        std::fs::remove_file(dir.join("config.json")).unwrap();
        c.see_out(
            "spec --rootless",
            &c.rt(&["spec", "--rootless", "--bundle", &d]),
            &[],
        );
        let text = std::fs::read_to_string(dir.join("config.json")).unwrap_or_default();
        c.see_json_text("rootless config.json", &text);
    });
}

/// Each of runc's update flags alone, and what the cgroup then holds.
#[test]
fn update_flags() {
    compare(|c| {
        let id = running(c);
        let cg = format!("/{}/{id}", crate::harness::CGROUP_PARENT);
        for (flags, ctl, file) in [
            (vec!["--cpu-share", "512"], "cpu", "cpu.shares"),
            (vec!["--cpu-period", "200000"], "cpu", "cpu.cfs_period_us"),
            (vec!["--cpu-quota", "50000"], "cpu", "cpu.cfs_quota_us"),
            (vec!["--cpuset-cpus", "0"], "cpuset", "cpuset.cpus"),
            (vec!["--cpuset-mems", "0"], "cpuset", "cpuset.mems"),
            (vec!["--memory", "100m"], "memory", "memory.limit_in_bytes"),
            (
                vec!["--memory-reservation", "32m"],
                "memory",
                "memory.soft_limit_in_bytes",
            ),
            (vec!["--pids-limit", "77"], "pids", "pids.max"),
            (vec!["--blkio-weight", "500"], "blkio", "blkio.weight"),
            (
                vec!["--kernel-memory", "50m"],
                "memory",
                "memory.kmem.limit_in_bytes",
            ),
            (
                vec!["--cpu-rt-period", "1000000"],
                "cpu",
                "cpu.rt_period_us",
            ),
        ] {
            let key = flags.join(" ");
            let mut args = vec!["update"];
            args.extend(flags.iter().copied());
            args.push(&id);
            c.see_exit(&format!("update {key}"), &c.rt(&args), &[]);
            let v = std::fs::read_to_string(crate::common::cgroup_file(ctl, &cg, file));
            c.see(
                &format!("{key}: {file}"),
                v.map(|s| s.trim().to_string())
                    .unwrap_or_else(|e| e.kind().to_string()),
            );
        }
        let r = c.dir.join("r.json");
        std::fs::write(
            &r,
            r#"{"memory": {"limit": 83886080}, "pids": {"limit": 55}}"#,
        )
        .unwrap();
        c.see_exit(
            "update --resources FILE",
            &c.rt(&["update", "--resources", r.to_str().unwrap(), &id]),
            &[],
        );
        c.see(
            "memory after --resources",
            std::fs::read_to_string(crate::common::cgroup_file(
                "memory",
                &cg,
                "memory.limit_in_bytes",
            ))
            .unwrap_or_default()
            .trim(),
        );
        c.see(
            "pids after --resources",
            std::fs::read_to_string(crate::common::cgroup_file("pids", &cg, "pids.max"))
                .unwrap_or_default()
                .trim(),
        );
        c.rt(&["kill", &id, "KILL"]);
    });
}
