//! create, start, state, kill, delete, list: the status a client reads and
//! the phrases it parses.

use crate::harness::{Case, Differ, compare, compare_with};

/// Waits (bounded) until the container's status is `want`.
pub(crate) fn wait_status(c: &Case, id: &str, want: &str) {
    for _ in 0..500 {
        let out = c.rt(&["state", id]);
        if out.stdout.contains(&format!("\"status\": \"{want}\"")) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{}: {id} never became {want}", c.rt.name());
}

#[test]
fn state_through_the_lifecycle() {
    compare(|c| {
        c.config(|v| v["process"]["args"] = serde_json::json!(["sleep", "100"]));
        let out = c.rt(&["create", "--bundle", "{bundle}", "{id}"]);
        c.see_out("create", &out, &[]);
        let id = c.id.clone();
        c.see_state("created", &id);
        c.see_out("start", &c.rt(&["start", &id]), &[]);
        c.see_state("running", &id);
        c.see_out("kill", &c.rt(&["kill", &id, "KILL"]), &[]);
        wait_status(c, &id, "stopped");
        c.see_state("stopped", &id);
        c.see_out("delete", &c.rt(&["delete", &id]), &[]);
        c.see_out(
            "state after delete",
            &c.rt(&["state", &id]),
            &["does not exist"],
        );
    });
}

#[test]
fn list_formats() {
    compare(|c| {
        c.config(|v| v["process"]["args"] = serde_json::json!(["sleep", "100"]));
        c.rt(&["run", "--detach", "--bundle", "{bundle}", "{id}"]);
        let out = c.rt(&["list", "--format", "json"]);
        c.see("list json exit", out.code);
        c.see_json_text("list json", &out.stdout);
        let out = c.rt(&["list"]);
        let header = out
            .stdout
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        c.see("list header", header);
        let row: Vec<String> = out
            .stdout
            .lines()
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        c.see("list row fields", row.len());
        c.see(
            "list row status and owner",
            format!(
                "{} {}",
                row.get(2).cloned().unwrap_or_default(),
                row.last().cloned().unwrap_or_default()
            ),
        );
        c.see_out("list -q", &c.rt(&["list", "-q"]), &[]);
        let id = c.id.clone();
        c.see_state("state", &id);
    });
}

#[test]
fn kill_signal_0_probes_liveness() {
    compare(|c| {
        c.config(|v| v["process"]["args"] = serde_json::json!(["sleep", "100"]));
        c.rt(&["create", "--bundle", "{bundle}", "{id}"]);
        c.see_out("kill 0 created", &c.rt(&["kill", "{id}", "0"]), &[]);
        c.rt(&["start", "{id}"]);
        c.see_out("kill 0 running", &c.rt(&["kill", "{id}", "0"]), &[]);
        c.see_out("kill --all 0", &c.rt(&["kill", "--all", "{id}", "0"]), &[]);
        c.see_out("kill SIGKILL", &c.rt(&["kill", "{id}", "SIGKILL"]), &[]);
        let id = c.id.clone();
        wait_status(c, &id, "stopped");
        c.see_out(
            "kill 0 stopped",
            &c.rt(&["kill", "{id}", "0"]),
            &["container not running"],
        );
    });
}

/// containerd's shim takes only "container not running" (and a few other
/// phrases) as "already finished": a StopContainer that races the
/// container's own exit depends on it.
#[test]
fn kill_of_an_exited_container_says_not_running() {
    compare(|c| {
        let log = c.dir.join("log.json");
        c.rt(&["run", "--detach", "--bundle", "{bundle}", "{id}"]);
        let id = c.id.clone();
        wait_status(c, &id, "stopped");
        c.see_out("kill", &c.rt(&["kill", "{id}"]), &["container not running"]);
        let l = log.to_str().unwrap();
        let out = c.rt(&["--log", l, "--log-format", "json", "kill", "{id}", "KILL"]);
        c.see_out("kill with --log", &out, &["container not running"]);
        c.see_log("--log", &log, &["container not running"]);
        c.see_out(
            "kill --all",
            &c.rt(&["kill", "--all", "{id}", "KILL"]),
            &["container not running"],
        );
    });
}

#[test]
fn exec_into_a_created_container() {
    compare(|c| {
        c.config(|v| v["process"]["args"] = serde_json::json!(["sleep", "100"]));
        c.rt(&["create", "--bundle", "{bundle}", "{id}"]);
        c.see_out("exec id", &c.rt(&["exec", "{id}", "id"]), &[]);
        let id = c.id.clone();
        c.see_state("after exec", &id);
        c.see_out("start", &c.rt(&["start", "{id}"]), &[]);
        c.see_state("started", &id);
    });
}

#[test]
fn ids_that_do_not_exist() {
    compare(|c| {
        for cmd in [
            "state", "start", "kill", "delete", "pause", "resume", "ps", "events",
        ] {
            c.see_exit(cmd, &c.rt(&[cmd, "nope"]), &["container does not exist"]);
        }
        c.see_out("delete --force", &c.rt(&["delete", "--force", "nope"]), &[]);
        c.see_exit(
            "exec",
            &c.rt(&["exec", "nope", "true"]),
            &["container does not exist"],
        );
    });
}

/// runc deletes a created container without --force; the spec says delete
/// "MUST generate an error if the container is not stopped".
#[test]
fn delete_of_a_created_container() {
    compare_with(
        &[
            Differ {
                key: "delete.exit",
                berth: "1",
                why: "runtime-spec, runtime.md Delete: attempting to delete a container that is not stopped MUST generate an error",
            },
            Differ {
                key: "state after.exit",
                berth: "0",
                why: "the refused delete left the created container as it was",
            },
        ],
        |c| {
            c.rt(&["create", "--bundle", "{bundle}", "{id}"]);
            c.see_exit("delete", &c.rt(&["delete", "{id}"]), &[]);
            let out = c.rt(&["state", "{id}"]);
            c.see_exit("state after", &out, &[]);
        },
    );
}

/// The phrases Docker and podman read from the runtime's error to tell a
/// missing program (127) from one that cannot run (126), on stderr and in
/// the --log JSON, for run, create and exec.
#[test]
fn exec_failures_keep_runc_phrases() {
    const PHRASES: &[&str] = &[
        "no such file or directory",
        "executable file not found",
        "permission denied",
        "operation not permitted",
    ];
    let why = "runc's init writes an execve failure to stderr only, past its --log; clients read the error from --log \
               (containerd's shim reports its last error line), so berth logs it there too";
    let differ = [
        Differ {
            key: "run refused by seccomp --log has an error",
            berth: "true",
            why,
        },
        Differ {
            key: "run refused by seccomp --log error has \"operation not permitted\"",
            berth: "true",
            why,
        },
    ];
    compare_with(&differ, |c| {
        c.config(|v| v["process"]["args"] = serde_json::json!(["sleep", "100"]));
        let main = c.new_id("main");
        c.rt(&["run", "--detach", "--bundle", "{bundle}", &main]);
        for (name, prog) in [
            ("not in PATH", "nosuch"),
            ("missing", "/nosuch"),
            ("not executable", "/etc/passwd"),
            ("a directory", "/tmp"),
        ] {
            let log = c.dir.join(format!("{name}.log"));
            let l = log.to_str().unwrap().to_string();
            let out = c.rt(&["--log", &l, "--log-format", "json", "exec", &main, prog]);
            c.see_exit(&format!("exec {name}"), &out, PHRASES);
            c.see_log(&format!("exec {name} --log"), &log, PHRASES);
        }
        c.rt(&["delete", "--force", &main]);
        for (name, prog) in [
            ("not in PATH", "nosuch"),
            ("missing", "/nosuch"),
            ("not executable", "/etc/passwd"),
        ] {
            c.config(|v| v["process"]["args"] = serde_json::json!([prog]));
            let id = c.new_id(name);
            let log = c.dir.join(format!("run {name}.log"));
            let l = log.to_str().unwrap().to_string();
            let out = c.rt(&[
                "--log",
                &l,
                "--log-format",
                "json",
                "run",
                "--bundle",
                "{bundle}",
                &id,
            ]);
            c.see_exit(&format!("run {name}"), &out, PHRASES);
            c.see_log(&format!("run {name} --log"), &log, PHRASES);
            let id = c.new_id(&format!("create {name}"));
            let out = c.rt(&["create", "--bundle", "{bundle}", &id]);
            c.see_exit(&format!("create {name}"), &out, PHRASES);
            c.see_host(&format!("create {name} leaves"));
        }
        // execve refused by seccomp: EPERM.
        c.config(|v| {
            v["process"]["args"] = serde_json::json!(["true"]);
            v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["execve", "execveat"], "action": "SCMP_ACT_ERRNO"}]});
        });
        let id = c.new_id("seccomp");
        let log = c.dir.join("seccomp.log");
        let l = log.to_str().unwrap().to_string();
        let out = c.rt(&[
            "--log",
            &l,
            "--log-format",
            "json",
            "run",
            "--bundle",
            "{bundle}",
            &id,
        ]);
        c.see_exit("run refused by seccomp", &out, PHRASES);
        c.see_log("run refused by seccomp --log", &log, PHRASES);
    });
}

/// runc takes a relative readonlyPaths entry; the spec says they are
/// absolute paths in the container's namespace.
#[test]
fn relative_readonly_paths() {
    compare_with(
        &[Differ {
            key: "run.exit",
            berth: "1",
            why: "runtime-spec config-linux.md readonlyPaths: \"an array of absolute paths\"; berth refuses another, naming it",
        }],
        |c| {
            c.config(|v| v["linux"]["readonlyPaths"] = serde_json::json!(["proc/bus"]));
            let out = c.rt(&["run", "--bundle", "{bundle}", "{id}"]);
            c.see_exit("run", &out, &[]);
            c.see(
                "error names the field",
                !out.stderr.contains("level=error") || out.stderr.contains("readonlyPaths[0]"),
            );
            c.see_host("left after run");
        },
    );
}
