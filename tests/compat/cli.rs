//! Every subcommand and global flag of runc's command line, with its
//! error paths: exit statuses, and the lines clients parse.

use crate::harness::{Case, Differ, compare, compare_with};

#[test]
fn version_lines() {
    compare_with(
        &[Differ {
            key: "--version has go:",
            berth: "false",
            why: "berth is not written in Go; no client reads that line",
        }],
        |c| {
            let out = c.exec(c.bare(&["--version"]));
            c.see("--version exit", out.code);
            let first = out.stdout.lines().next().unwrap_or("");
            c.see(
                "--version first line has \" version \"",
                first.contains(" version "),
            );
            for l in ["commit:", "spec:", "go:", "libseccomp:"] {
                c.see(
                    &format!("--version has {l}"),
                    out.stdout.lines().any(|x| x.starts_with(l)),
                );
            }
        },
    );
}

/// An error of the command line: its exit status, and whether stderr
/// carries it as a log line (runc prints its usage on stdout as well).
fn see_usage_error(c: &mut Case, key: &str, args: &[&str]) {
    let out = c.rt(args);
    c.see(&format!("{key}.exit"), out.code);
    c.see(
        &format!("{key} logs an error"),
        out.stderr.contains("level=error"),
    );
}

#[test]
fn commands_without_their_arguments() {
    compare(|c| {
        for cmd in [
            "create", "run", "start", "state", "kill", "delete", "pause", "resume", "ps", "events",
            "update", "exec",
        ] {
            see_usage_error(c, cmd, &[cmd]);
        }
        see_usage_error(c, "state two ids", &["state", "a", "b"]);
        see_usage_error(c, "kill three words", &["kill", "a", "KILL", "c"]);
        see_usage_error(c, "spec with a word", &["spec", "x"]);
        see_usage_error(c, "list with a word", &["list", "x"]);
        see_usage_error(c, "features with a word", &["features", "x"]);
        see_usage_error(c, "unknown flag", &["delete", "--frce", "x"]);
        see_usage_error(c, "unknown global flag", &["--nosuchflag", "list"]);
        see_usage_error(c, "bad --log-format", &["--log-format", "yaml", "list"]);
        let out = c.rt(&["nosuchcommand"]);
        c.see("unknown command.exit", out.code);
    });
}

#[test]
fn help_of_each_command() {
    compare(|c| {
        for cmd in [
            "create", "run", "start", "state", "kill", "delete", "pause", "resume", "ps", "events",
            "update", "exec", "list", "spec", "features",
        ] {
            let out = c.rt(&[cmd, "--help"]);
            c.see(&format!("{cmd} --help exit"), out.code);
            c.see(&format!("{cmd} --help prints"), !out.stdout.is_empty());
        }
        for args in [&["--help"][..], &["help"], &[]] {
            let out = c.rt(args);
            c.see(&format!("{args:?} exit"), out.code);
            c.see(&format!("{args:?} prints"), !out.stdout.is_empty());
        }
    });
}

/// Clients probe `checkpoint --help` to learn whether a runtime can
/// checkpoint (issue 16): both answer yes, and both refuse a container
/// that does not exist (and restore an id with no image directory).
#[test]
fn checkpoint_and_restore() {
    compare(|c| {
        for cmd in ["checkpoint", "restore"] {
            c.see(&format!("{cmd} --help.exit"), c.rt(&[cmd, "--help"]).code);
            c.see(&format!("{cmd}.exit"), c.rt(&[cmd, "{id}"]).code);
        }
    });
}

/// runc's global flags: clients pass --criu, --rootless and
/// --systemd-cgroup to every call; the commands that do not use them run.
#[test]
fn global_flags() {
    compare(|c| {
        let log = c.dir.join("debug.log");
        let l = log.to_str().unwrap().to_string();
        for (key, flags) in [
            ("--criu", vec!["--criu", "/usr/sbin/criu"]),
            (
                "--criu of a missing file",
                vec!["--criu", "/nonexistent/criu"],
            ),
            ("--rootless true", vec!["--rootless", "true"]),
            ("--rootless false", vec!["--rootless", "false"]),
            ("--rootless auto", vec!["--rootless", "auto"]),
            ("--rootless=false", vec!["--rootless=false"]),
            ("--systemd-cgroup", vec!["--systemd-cgroup"]),
            ("--debug --log", vec!["--debug", "--log", &l]),
            ("--log-format json", vec!["--log-format", "json"]),
            ("--log-format text", vec!["--log-format", "text"]),
        ] {
            let mut args = flags.clone();
            args.extend(["list", "-q"]);
            c.see_out(&format!("{key} list"), &c.rt(&args), &[]);
            let mut args = flags.clone();
            args.extend(["state", "nope"]);
            c.see_exit(
                &format!("{key} state nope"),
                &c.rt(&args),
                &["container does not exist"],
            );
        }
        // The flags that change what create does: a value that is wrong,
        // or a cgroup manager this host has not (no systemd here).
        for (key, flags) in [
            ("--rootless bogus", vec!["--rootless", "bogus"]),
            ("--systemd-cgroup", vec!["--systemd-cgroup"]),
        ] {
            let mut args = flags.clone();
            args.extend(["run", "--bundle", "{bundle}", "{id}"]);
            c.see_exit(&format!("{key} run"), &c.rt(&args), &[]);
            c.see_host(&format!("{key} run leaves"));
        }
        let args = ["--rootless", "false", "run", "--bundle", "{bundle}", "{id}"];
        c.see_out("--rootless false run", &c.rt(&args), &[]);
        c.see_exit(
            "--rootless true state",
            &c.rt(&["--rootless", "true", "state", "{id}"]),
            &["does not exist"],
        );
    });
}

/// Each flag runc's create, run and exec take, with a value that works:
/// the runtime must accept it and do what it says.
#[test]
fn create_run_and_exec_flags() {
    let why = "berth takes a `--` after the id as the end of its flags, as getopt does; runc 1.1.5 looks for a program named `--`";
    let differ = [
        Differ {
            key: "exec --.exit",
            berth: "0",
            why,
        },
        Differ {
            key: "exec --.stdout",
            berth: "--x\n",
            why,
        },
    ];
    compare_with(&differ, |c| {
        let pid_file = c.dir.join("pid").to_str().unwrap().to_string();
        for (key, flags) in [
            ("--pid-file", vec!["--pid-file", pid_file.as_str()]),
            ("--no-pivot", vec!["--no-pivot"]),
            ("--no-new-keyring", vec!["--no-new-keyring"]),
            ("--preserve-fds 0", vec!["--preserve-fds", "0"]),
            ("-b", vec!["-b", "{bundle}"]),
        ] {
            let id = c.new_id(key);
            let mut args = vec!["run"];
            if !flags.contains(&"-b") {
                args.extend(["--bundle", "{bundle}"]);
            }
            args.extend(flags.iter().copied());
            args.push(&id);
            c.see_out(&format!("run {key}"), &c.rt(&args), &[]);
        }
        c.see("pid file written", std::path::Path::new(&pid_file).exists());
        c.config(|v| v["process"]["args"] = serde_json::json!(["sleep", "100"]));
        let id = c.new_id("main");
        c.rt(&["run", "-d", "--bundle", "{bundle}", &id]);
        let exec_pid = c.dir.join("exec.pid").to_str().unwrap().to_string();
        for (key, flags) in [
            ("--cwd", vec!["--cwd", "/tmp", "pwd"]),
            ("--env", vec!["--env", "A=1", "sh", "-c", "echo $A"]),
            ("-e", vec!["-e", "A=2", "sh", "-c", "echo $A"]),
            ("--user", vec!["--user", "1000:1000", "id"]),
            ("-u uid", vec!["-u", "65534", "id"]),
            (
                "--additional-gids",
                vec!["--user", "1000:1000", "--additional-gids", "10", "id"],
            ),
            (
                "--no-new-privs",
                vec![
                    "--no-new-privs",
                    "sh",
                    "-c",
                    "grep NoNewPrivs /proc/self/status",
                ],
            ),
            ("--detach", vec!["--detach", "true"]),
            ("--pid-file", vec!["--pid-file", exec_pid.as_str(), "true"]),
            ("--preserve-fds", vec!["--preserve-fds", "0", "true"]),
            ("--ignore-paused", vec!["--ignore-paused", "true"]),
            ("--", vec!["--", "echo", "--x"]),
        ] {
            let (opts, cmd) = split_exec(&flags);
            let mut full = vec!["exec"];
            full.extend(opts);
            full.push(&id);
            full.extend(cmd);
            c.see_out(&format!("exec {key}"), &c.rt(&full), &[]);
        }
        c.see(
            "exec pid file written",
            std::path::Path::new(&exec_pid).exists(),
        );
    });
}

/// An exec's flags (with their values) and its command (a leading `--`
/// kept, to go after the id), from one list.
fn split_exec<'a>(words: &[&'a str]) -> (Vec<&'a str>, Vec<&'a str>) {
    const TAKES_VALUE: &[&str] = &[
        "--cwd",
        "--env",
        "-e",
        "--user",
        "-u",
        "--additional-gids",
        "--pid-file",
        "--preserve-fds",
    ];
    let mut i = 0;
    while i < words.len() && words[i].starts_with('-') && words[i] != "--" {
        i += if TAKES_VALUE.contains(&words[i]) {
            2
        } else {
            1
        };
    }
    (words[..i].to_vec(), words[i..].to_vec())
}
