//! Rootless: both runtimes run by an ordinary user of the test's own, on
//! the bundle each one's `spec --rootless` makes for that user. This host's
//! cgroups are v1, where neither gets a cgroup for the container.

use crate::harness::{Differ, compare_rootless};
use crate::lifecycle::wait_status;

/// What the container sees of itself, and the lifecycle around it.
#[test]
fn rootless_lifecycle() {
    compare_rootless(&[], |c| {
        c.sh(
            "id; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; \
             hostname; grep -c . /proc/self/cgroup; sleep 100",
        );
        let id = c.id.clone();
        c.see_out(
            "create",
            &c.rt(&["create", "--bundle", "{bundle}", &id]),
            &[],
        );
        c.see_state("created", &id);
        c.see_out("start", &c.rt(&["start", &id]), &[]);
        c.see_state("running", &id);
        let out = c.rt(&[
            "exec",
            &id,
            "sh",
            "-c",
            "id; tr '\\0' ' ' < /proc/1/cmdline",
        ]);
        c.see_out("exec", &out, &[]);
        c.see_out("kill", &c.rt(&["kill", &id, "KILL"]), &[]);
        wait_status(c, &id, "stopped");
        c.see_out("delete", &c.rt(&["delete", &id]), &[]);
        c.see_out(
            "state after delete",
            &c.rt(&["state", &id]),
            &["does not exist"],
        );
        c.sh("id; cat /proc/self/uid_map /proc/self/setgroups; hostname");
        let id = c.new_id("run");
        c.see_out("run", &c.rt(&["run", "--bundle", "{bundle}", &id]), &[]);
    });
}

/// A limit in the config: runc 1.1.5 cannot set it without a cgroup and
/// fails the create, naming the controller; berth the same, and neither
/// leaves anything. Device rules alone are ignored by both.
#[test]
fn rootless_limits() {
    compare_rootless(&[], |c| {
        for (name, r) in [
            (
                "memory",
                serde_json::json!({"memory": {"limit": 100000000}}),
            ),
            ("pids", serde_json::json!({"pids": {"limit": 10}})),
            ("cpu", serde_json::json!({"cpu": {"shares": 512}})),
            ("cpuset", serde_json::json!({"cpu": {"cpus": "0"}})),
            (
                "devices",
                serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]}),
            ),
        ] {
            c.config(|v| v["linux"]["resources"] = r);
            let id = c.new_id(name);
            let out = c.rt(&["run", "--bundle", "{bundle}", &id]);
            let phrase =
                format!("cannot set {name} limit: container could not join or create cgroup");
            c.see_exit(name, &out, &[&phrase]);
        }
    });
}

/// What needs a cgroup, of a running container without one: pause, ps,
/// update fail in both; resume says it is not paused. Where runc 1.1.5
/// gets it wrong without a cgroup, berth differs on purpose.
#[test]
fn rootless_cgroup_commands() {
    compare_rootless(
        &[
            Differ {
                key: "events --stats.exit",
                berth: "1",
                why: "without a cgroup there are no statistics: berth says so, runc 1.1.5 prints zeros as if there were",
            },
            Differ {
                key: "kill --all.exit",
                berth: "0",
                why: "berth signals every process of the container's pid namespace; runc 1.1.5 fails \
                      (\"lstat : no such file or directory\") and signals nothing",
            },
        ],
        |c| {
            c.sh("trap 'exit 0' TERM; sleep 100 & wait");
            let id = c.id.clone();
            c.see_out(
                "run -d",
                &c.rt(&["run", "-d", "--bundle", "{bundle}", &id]),
                &[],
            );
            c.see_exit("pause", &c.rt(&["pause", &id]), &[]);
            c.see_state("after pause", &id);
            c.see_exit("resume", &c.rt(&["resume", &id]), &["container not paused"]);
            c.see_exit("ps", &c.rt(&["ps", &id]), &[]);
            c.see_exit("events --stats", &c.rt(&["events", "--stats", &id]), &[]);
            let out = c.rt(&["update", "--memory", "100000000", &id]);
            c.see_exit("update", &out, &["cannot set memory limit"]);
            // Last: berth's ends the container, runc's does not.
            c.see_exit("kill --all", &c.rt(&["kill", "--all", &id, "TERM"]), &[]);
            c.see_out("delete --force", &c.rt(&["delete", "--force", &id]), &[]);
        },
    );
}

/// process.oomScoreAdj: raised by an ordinary user in both (runc's nsexec
/// writes its own before the clone, berth the same); lowered below the
/// user's, both fail the create, naming oom_score_adj, and leave nothing.
#[test]
fn rootless_oom_score_adj() {
    compare_rootless(&[], |c| {
        c.sh("cat /proc/self/oom_score_adj");
        for (name, adj) in [("raised", 500), ("lowered", -500)] {
            c.config(|v| v["process"]["oomScoreAdj"] = adj.into());
            let id = c.new_id(name);
            let out = c.rt(&["run", "--bundle", "{bundle}", &id]);
            c.see_out(name, &out, &["oom_score_adj"]);
            c.see_exit(&format!("{name}: state after"), &c.rt(&["state", &id]), &[]);
        }
    });
}
