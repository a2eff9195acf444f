//! The process: exec's process and flags, hooks' environment and order,
//! terminals and stdio ownership, seccomp.

use crate::harness::{Case, Differ, compare, compare_with};
use serde_json::json;
use std::time::Duration;

/// Waits (bounded) until the container's status is `want`.
fn wait_status(c: &Case, id: &str, want: &str) {
    for _ in 0..500 {
        let out = c.rt(&["state", id]);
        if out.stdout.contains(&format!("\"status\": \"{want}\"")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{}: {id} never became {want}", c.rt.name());
}

/// The lines of /proc/self/status whose names are in `names`, as printed.
fn status_lines(text: &str, names: &[&str]) -> String {
    text.lines()
        .filter(|l| names.iter().any(|n| l.starts_with(&format!("{n}:"))))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A container running `sleep 100` as uid/gid 1000, started.
fn sleeping_as_1000(c: &mut Case) {
    c.config(|v| {
        v["process"]["args"] = json!(["sleep", "100"]);
        v["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    c.rt(&["run", "--detach", "--bundle", "{bundle}", "{id}"]);
}

/// runc reads -p process.json as the whole process: a missing user is
/// uid 0, gid 0, not the container's user.
#[test]
fn exec_process_json_without_user_runs_as_root() {
    compare(|c| {
        sleeping_as_1000(c);
        let p = c.dir.join("process.json");
        std::fs::write(
            &p,
            json!({"args": ["/bin/id"], "cwd": "/", "env": ["PATH=/bin"]}).to_string(),
        )
        .unwrap();
        c.see_out(
            "exec -p",
            &c.rt(&["exec", "-p", p.to_str().unwrap(), "{id}"]),
            &[],
        );
        let p = c.dir.join("process-user.json");
        std::fs::write(
            &p,
            json!({"args": ["/bin/id"], "cwd": "/", "user": {"uid": 2, "gid": 3}}).to_string(),
        )
        .unwrap();
        c.see_out(
            "exec -p with user",
            &c.rt(&["exec", "-p", p.to_str().unwrap(), "{id}"]),
            &[],
        );
    });
}

/// exec --cap adds to bounding, effective, permitted (and asks for
/// ambient, which the kernel refuses without inheritable).
#[test]
fn exec_cap_adds_to_the_sets() {
    compare(|c| {
        c.config(|v| v["process"]["args"] = json!(["sleep", "100"]));
        c.rt(&["run", "--detach", "--bundle", "{bundle}", "{id}"]);
        let out = c.rt(&[
            "exec",
            "--cap",
            "CAP_NET_ADMIN",
            "{id}",
            "cat",
            "/proc/self/status",
        ]);
        c.see("exec --cap exit", out.code);
        c.see(
            "exec --cap sets",
            status_lines(
                &out.stdout,
                &["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"],
            ),
        );
        let out = c.rt(&[
            "exec",
            "--cap",
            "CAP_NET_ADMIN",
            "-u",
            "1000",
            "{id}",
            "cat",
            "/proc/self/status",
        ]);
        c.see(
            "exec --cap -u 1000 sets",
            status_lines(
                &out.stdout,
                &["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"],
            ),
        );
    });
}

const HOOK_KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// A hook without env runs with the environment of whoever runs it: the
/// runtime's own (COMPAT_X from the command reaches it), or inside the
/// container (createContainer, startContainer) the process's.
#[test]
fn hooks_without_env_inherit_the_environment() {
    compare(|c| {
        std::fs::create_dir_all(c.bundle.join("rootfs/out")).unwrap();
        let dir = c.dir.to_str().unwrap().to_string();
        c.config(|v| {
            v["process"]["args"] = json!(["sleep", "100"]);
            v["root"]["readonly"] = false.into();
            for kind in HOOK_KINDS {
                // startContainer runs in the container, after pivot_root.
                let file = if kind == "startContainer" { format!("/out/{kind}.env") } else { format!("{dir}/{kind}.env") };
                v["hooks"][kind] = json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("env > {file}")]}]);
            }
            v["hooks"]["poststart"].as_array_mut().unwrap().push(json!({"path": "/bin/sh", "args": ["sh", "-c", format!("env > {dir}/empty.env")], "env": []}));
        });
        let run = |c: &Case, args: &[&str]| {
            c.exec({
                let mut cmd = c.cmd(args);
                cmd.env("COMPAT_X", "1");
                cmd
            })
        };
        c.see_exit(
            "create",
            &run(c, &["create", "--bundle", "{bundle}", "{id}"]),
            &[],
        );
        c.see_exit("start", &run(c, &["start", "{id}"]), &[]);
        c.rt(&["kill", "{id}", "KILL"]);
        let id = c.id.clone();
        wait_status(c, &id, "stopped");
        c.see_exit("delete", &run(c, &["delete", "{id}"]), &[]);
        for kind in HOOK_KINDS.iter().copied().chain(["empty"]) {
            let file = if kind == "startContainer" {
                c.bundle.join("rootfs/out/startContainer.env")
            } else {
                c.dir.join(format!("{kind}.env"))
            };
            let text = std::fs::read_to_string(file).unwrap_or_else(|_| "(no file)".into());
            c.see(
                &format!("{kind} hook sees COMPAT_X"),
                text.lines().any(|l| l == "COMPAT_X=1"),
            );
            if kind.ends_with("Container") || kind == "empty" {
                let mut names: Vec<&str> = text
                    .lines()
                    .filter_map(|l| l.split_once('=').map(|(k, _)| k))
                    .collect();
                names.sort();
                c.see(&format!("{kind} hook env names"), names.join(","));
            }
        }
    });
}

/// poststart runs once start succeeded, even if the process is already
/// gone by then.
#[test]
fn poststart_runs_after_a_quick_process() {
    compare(|c| {
        let mark = c.dir.join("poststart.ran");
        c.config(|v| {
            v["hooks"]["poststart"] =
                json!([{"path": "/bin/touch", "args": ["touch", mark.to_str().unwrap()]}])
        });
        c.rt(&["create", "--bundle", "{bundle}", "{id}"]);
        let id = c.id.clone();
        c.see_exit("start", &c.rt(&["start", "{id}"]), &[]);
        c.see("poststart ran", mark.exists());
        wait_status(c, &id, "stopped");
        let _ = std::fs::remove_file(&mark);
        let run = c.new_id("run");
        c.see_exit("run", &c.rt(&["run", "--bundle", "{bundle}", &run]), &[]);
        c.see("poststart ran for run", mark.exists());
        let _ = std::fs::remove_file(&mark);
        let run = c.new_id("detached");
        c.see_exit(
            "run --detach",
            &c.rt(&["run", "--detach", "--bundle", "{bundle}", &run]),
            &[],
        );
        c.see("poststart ran for run --detach", mark.exists());
    });
}

/// startContainer runs as the container's process would: its user, its
/// capabilities, its seccomp filter.
#[test]
fn start_container_hook_runs_confined() {
    compare(|c| {
        let out = c.bundle.join("rootfs/out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        c.config(|v| {
            v["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            v["root"]["readonly"] = false.into();
            v["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO"}]});
            v["hooks"]["startContainer"] = json!([{"path": "/bin/cp", "args": ["cp", "/proc/self/status", "/out/status"]}]);
        });
        c.see_exit("run", &c.rt(&["run", "--bundle", "{bundle}", "{id}"]), &[]);
        let text = std::fs::read_to_string(out.join("status")).unwrap_or_default();
        c.see(
            "startContainer hook",
            status_lines(
                &text,
                &[
                    "Uid",
                    "Gid",
                    "CapInh",
                    "CapPrm",
                    "CapEff",
                    "CapBnd",
                    "CapAmb",
                    "NoNewPrivs",
                    "Seccomp",
                ],
            ),
        );
    });
}

const OWNERS: &str = "for f in 0 1 2; do stat -L -c \"$f %u:%g\" /proc/self/fd/$f; done";

/// A terminal's pty belongs to the process's user (its group stays
/// devpts's tty group), for the container's process and for exec -t.
#[test]
fn terminal_pty_is_owned_by_the_user() {
    compare(|c| {
        c.config(|v| {
            v["process"]["terminal"] = true.into();
            v["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            v["process"]["args"] = json!(["sh", "-c", OWNERS]);
        });
        let (sock, rx) = c.console_socket("console.sock");
        c.see_exit(
            "run",
            &c.rt(&[
                "run",
                "--detach",
                "--console-socket",
                &sock,
                "--bundle",
                "{bundle}",
                "{id}",
            ]),
            &[],
        );
        c.see(
            "container terminal",
            rx.recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| "(nothing)".into()),
        );
        let id = c.new_id("sleeper");
        c.config(|v| {
            v["process"]["terminal"] = false.into();
            v["process"]["args"] = json!(["sleep", "100"]);
        });
        c.rt(&["run", "--detach", "--bundle", "{bundle}", &id]);
        let (sock, rx) = c.console_socket("exec.sock");
        let out = c.rt(&[
            "exec",
            "-t",
            "-d",
            "--console-socket",
            &sock,
            "-u",
            "1001:1002",
            &id,
            "sh",
            "-c",
            OWNERS,
        ]);
        c.see_exit("exec -t", &out, &[]);
        c.see(
            "exec terminal",
            rx.recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| "(nothing)".into()),
        );
    });
}

/// Stdio the caller passes (pipes here) is chowned to the process's user,
/// so that it can reopen /dev/stdout; /dev/null is left alone.
#[test]
fn inherited_stdio_is_owned_by_the_user() {
    const WHY: &str = "runc relays a foreground process's stdio through pipes of its own, which it chowns to the user; berth passes the caller's stdio through, and the caller's /dev/null stays the host's";
    compare_with(
        &[
            Differ {
                key: "run.stdout",
                berth: "0 0:0\n1 1000:0\n2 1000:0\n",
                why: WHY,
            },
            Differ {
                key: "exec.stdout",
                berth: "0 0:0\n1 1001:0\n2 1001:0\n",
                why: WHY,
            },
        ],
        |c| {
            c.config(|v| {
                v["process"]["user"] = json!({"uid": 1000, "gid": 1000});
                v["process"]["args"] = json!(["sh", "-c", OWNERS]);
            });
            // The detached container writes after the runtime has returned:
            // its stdout goes to a file, read once the container has stopped.
            let file = c.dir.join("detached.out");
            let rt = c.cmd(&["run", "--detach", "--bundle", "{bundle}", "{id}"]);
            let mut out = c.exec(stdout_to(rt, &file));
            crate::lifecycle::wait_status(c, "{id}", "stopped");
            out.stdout = std::fs::read_to_string(&file).unwrap_or_default();
            c.see_out("run --detach", &out, &[]);
            let id = c.new_id("foreground");
            c.see_out("run", &c.rt(&["run", "--bundle", "{bundle}", &id]), &[]);
            let id = c.new_id("sleeper");
            c.config(|v| v["process"]["args"] = json!(["sleep", "100"]));
            c.rt(&["run", "--detach", "--bundle", "{bundle}", &id]);
            // The detached exec's output may come after the runtime has
            // returned: it goes to a file, read once it holds all three lines.
            let file = c.dir.join("exec-d.out");
            let rt = c.cmd(&["exec", "-d", "-u", "1001:1002", &id, "sh", "-c", OWNERS]);
            let mut out = c.exec(stdout_to(rt, &file));
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            out.stdout = loop {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                if text.lines().count() >= 3 || std::time::Instant::now() > deadline {
                    break text;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            };
            c.see_out("exec -d", &out, &[]);
            c.see_out(
                "exec",
                &c.rt(&["exec", "-u", "1001:1002", &id, "sh", "-c", OWNERS]),
                &[],
            );
            let null = std::fs::metadata("/dev/null")
                .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
                .unwrap();
            c.see("host /dev/null owner", null);
        },
    );
}

/// `rt` with its stdout a file a shell opens (the runtime's stdout is then
/// what a detached process inherits).
fn stdout_to(rt: std::process::Command, file: &std::path::Path) -> std::process::Command {
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg(format!("exec \"$0\" \"$@\" >'{}'", file.display()))
        .arg(rt.get_program())
        .args(rt.get_args());
    sh
}

/// A terminal of the host's that the caller passes as stdio stays the
/// host's: runc chowns it to the container's user.
#[test]
fn a_host_terminal_keeps_its_owner() {
    compare_with(
        &[Differ {
            key: "host terminal owner in the container",
            berth: "0 0:0",
            why: "nothing of the host changes under a container: a terminal (or /dev/null) the caller passes belongs to the host, and runc's chown would hand the host's terminal to a user of the container",
        }],
        |c| {
            c.config(|v| {
                v["process"]["user"] = json!({"uid": 1000, "gid": 1000});
                v["process"]["args"] =
                    json!(["sh", "-c", "stat -L -c \"0 %u:%g\" /proc/self/fd/0"]);
            });
            let (mut master, slave) = crate::common::tty::openpty(24, 80);
            // The slave is root's: the pty was made by this (root) process.
            let mut child = crate::common::tty::spawn_on(
                c.cmd(&["run", "--bundle", "{bundle}", "{id}"]),
                slave,
            );
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(crate::common::tty::read_all(&mut master).replace('\r', ""));
            });
            let text = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| "(nothing)".into());
            let _ = child.kill();
            let _ = child.wait();
            c.see("host terminal owner in the container", text.trim());
        },
    );
}

/// The process's environment: process.env, and HOME from the container's
/// /etc/passwd when it has none (root's, and "/" for a uid without entry).
#[test]
fn process_environment_has_home() {
    compare(|c| {
        c.config(|v| v["process"]["args"] = json!(["env"]));
        c.see_out("run", &c.rt(&["run", "--bundle", "{bundle}", "{id}"]), &[]);
        let id = c.new_id("nobody-home");
        c.config(|v| v["process"]["user"] = json!({"uid": 4242, "gid": 4242}));
        c.see_out(
            "run as an unknown uid",
            &c.rt(&["run", "--bundle", "{bundle}", &id]),
            &[],
        );
        let id = c.new_id("given");
        c.config(|v| {
            v["process"]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!("HOME=/given"))
        });
        c.see_out(
            "run with HOME",
            &c.rt(&["run", "--bundle", "{bundle}", &id]),
            &[],
        );
        let id = c.new_id("sleeper");
        c.config(|v| v["process"]["args"] = json!(["sleep", "100"]));
        c.rt(&["run", "--detach", "--bundle", "{bundle}", &id]);
        c.see_out("exec", &c.rt(&["exec", "-u", "0", &id, "env"]), &[]);
    });
}

/// A static program without libc that makes the syscalls it is given by
/// number (raw, x86_64) and prints "nr:result" for each: built into the
/// rootfs with the host's cc.
const PROBE_C: &str = r#"
static long sys(long n) { long r; __asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(0), "S"(0), "d"(0) : "rcx", "r11", "memory"); return r; }
static long sys3(long n, long a, long b, long c) { long r; __asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory"); return r; }
static void put(const char *s) { long n = 0; while (s[n]) n++; sys3(1, 1, (long)s, n); }
static void num(long v) { char b[24]; int i = 23; b[i] = 0; int neg = v < 0; if (neg) v = -v; do { b[--i] = '0' + v % 10; v /= 10; } while (v); if (neg) b[--i] = '-'; put(b + i); }
void _start(void) {
    static const long nrs[] = {110, 435, 439, 1000};
    for (int i = 0; i < 4; i++) { num(nrs[i]); put(":"); num(sys(nrs[i])); put(" "); }
    put("\n");
    sys3(60, 0, 0, 0);
}
"#;

fn build_probe(c: &Case) {
    let src = c.dir.join("probe.c");
    std::fs::write(&src, PROBE_C).unwrap();
    let out = c.bundle.join("rootfs/bin/probe");
    let mut cc = std::process::Command::new("cc");
    cc.args(["-static", "-nostdlib", "-fno-stack-protector", "-O1", "-o"])
        .arg(&out)
        .arg(&src);
    let r = c.exec(cc);
    assert_eq!(r.code, 0, "cc (scripts/deps.sh installs gcc): {}", r.stderr);
}

/// Syscalls above the highest one a profile names get ENOSYS (glibc falls
/// back from clone3 and faccessat2 only on that); a lower one it does not
/// name gets the default action. Probed: getppid (110), clone3 (435),
/// faccessat2 (439), and 1000, which no kernel has.
#[test]
fn seccomp_newer_syscalls_get_enosys() {
    compare(|c| {
        build_probe(c);
        // What runc's and berth's own code needs once the filter is in,
        // and the probe's write and exit; the highest named is rseq (334).
        let allow = [
            "read",
            "write",
            "close",
            "openat",
            "newfstatat",
            "fstat",
            "futex",
            "nanosleep",
            "sched_yield",
            "tgkill",
            "getpid",
            "gettid",
            "rt_sigaction",
            "rt_sigprocmask",
            "rt_sigreturn",
            "sigaltstack",
            "mmap",
            "munmap",
            "madvise",
            "mprotect",
            "brk",
            "exit",
            "exit_group",
            "execve",
            "execveat",
            "epoll_pwait",
            "epoll_ctl",
            "fcntl",
            "clock_gettime",
            "clock_nanosleep",
            "getrandom",
            "arch_prctl",
            "set_tid_address",
            "set_robust_list",
            "rseq",
            "prlimit64",
            "readlinkat",
            "dup3",
            "pipe2",
            "wait4",
            "waitid",
            "statfs",
            "fstatfs",
            "getdents64",
            "capget",
            "capset",
            "prctl",
            "setgroups",
            "setresuid",
            "setresgid",
        ];
        c.config(|v| {
            v["process"]["args"] = json!(["/bin/probe"]);
            v["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [{"names": allow.to_vec(), "action": "SCMP_ACT_ALLOW"}]
            });
        });
        c.see_out("run", &c.rt(&["run", "--bundle", "{bundle}", "{id}"]), &[]);
    });
}

/// SCMP_ACT_NOTIFY on write: runc 1.1.5 refuses it (it writes the
/// listener's number to its parent after the filter is in); berth hands
/// the listener over first, so write can be notified. As the default
/// action both refuse it.
#[test]
fn seccomp_notify_on_write() {
    compare_with(
        &[Differ {
            key: "create with notify on write.exit",
            berth: "0",
            why: "runtime-spec config-linux.md lists SCMP_ACT_NOTIFY for any syscall; berth sends the listener to its agent before any syscall of its own could wait on it, so write needs no exception",
        }],
        |c| {
            let sock = c.dir.join("agent.sock");
            let _agent = crate::common::notify::agent(&sock);
            c.config(|v| {
                v["process"]["args"] = json!(["sleep", "100"]);
                v["linux"]["seccomp"] = json!({
                    "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
                    "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]
                });
            });
            c.see_exit(
                "create with notify on write",
                &c.rt(&["create", "--bundle", "{bundle}", "{id}"]),
                &[],
            );
            let id = c.new_id("default");
            c.config(|v| v["linux"]["seccomp"]["defaultAction"] = json!("SCMP_ACT_NOTIFY"));
            c.see_exit(
                "create with notify as the default",
                &c.rt(&["create", "--bundle", "{bundle}", &id]),
                &[],
            );
        },
    );
}

/// SCMP_ACT_NOTIFY on sendmsg, which berth hands the listener over with
/// right after the filter is in: a notification of that call would wait
/// for an agent that cannot have the listener yet (the container process
/// blocked forever), so berth refuses the profile when it reads it, naming
/// the rule. runc 1.1.5 hands the listener over with write (which it
/// refuses to notify) and pidfd_getfd, so it runs this profile.
#[test]
fn seccomp_notify_on_sendmsg() {
    const WHY: &str = "one system call must carry the listener out after the filter is in, and a notification of it could never be answered; berth's is sendmsg (runc 1.1.5's is write, which it refuses and berth notifies): refused with the rule's JSON path instead of blocking forever";
    compare_with(
        &[
            Differ {
                key: "run with notify on sendmsg.exit",
                berth: "1",
                why: WHY,
            },
            Differ {
                key: "run with notify on sendmsg.stderr has \"linux.seccomp.syscalls[1].names\"",
                berth: "true",
                why: WHY,
            },
            Differ {
                key: "run with notify on sendmsg.stderr has \"SCMP_ACT_NOTIFY on sendmsg\"",
                berth: "true",
                why: WHY,
            },
        ],
        |c| {
            let sock = c.dir.join("agent.sock");
            let _agent = crate::common::notify::agent(&sock);
            c.config(|v| {
                v["linux"]["seccomp"] = json!({
                    "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
                    "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"},
                                 {"names": ["mkdir", "sendmsg"], "action": "SCMP_ACT_NOTIFY"}]
                });
            });
            let out = c.rt(&["run", "--bundle", "{bundle}", "{id}"]);
            c.see_exit(
                "run with notify on sendmsg",
                &out,
                &[
                    "linux.seccomp.syscalls[1].names",
                    "SCMP_ACT_NOTIFY on sendmsg",
                ],
            );
            c.see_host("host");
        },
    );
}

/// The reason of a runtime's error line (logrus text, `msg="..."`): its
/// last two `: `-separated parts, which runc's create and exec share
/// ("write /proc/self/attr/exec: invalid argument"), as berth's do; not
/// the command's own prefix ("runc create failed", "exec failed").
fn error_reason(stderr: &str) -> String {
    let msg = stderr
        .lines()
        .filter_map(|l| l.split_once("msg=\"").map(|(_, m)| m.trim_end_matches('"')))
        .next_back()
        .unwrap_or("");
    let parts: Vec<&str> = msg.rsplitn(3, ": ").collect();
    parts
        .iter()
        .take(2)
        .rev()
        .copied()
        .filter(|p| !p.ends_with(" failed"))
        .collect::<Vec<_>>()
        .join(": ")
}

/// An AppArmor profile where AppArmor is off (these machines): create
/// refuses it, and exec with --apparmor or a process.json's profile fails
/// for the same reason, as runc's do, leaving nothing behind.
#[test]
fn apparmor_profile_in_create_and_exec_where_apparmor_is_off() {
    label_where_its_lsm_is_off("apparmorProfile", "--apparmor", "berth-compat");
}

/// The same for a process's SELinux label where SELinux is off (these
/// machines): runc 1.1.5 refuses it ("selinux label is specified in
/// config, but selinux is disabled or not supported"), and so does berth.
#[test]
fn selinux_label_in_create_and_exec_where_selinux_is_off() {
    label_where_its_lsm_is_off(
        "selinuxLabel",
        "--process-label",
        "system_u:system_r:container_t:s0",
    );
}

/// process.`field` set to `value` in the config, then through exec's
/// `flag` and a process.json: each refused for the same reason, and
/// nothing left behind.
fn label_where_its_lsm_is_off(field: &str, flag: &str, value: &str) {
    compare(|c| {
        c.config(|v| {
            v["process"]["args"] = json!(["true"]);
            v["process"][field] = value.into();
        });
        let created = c.rt(&["create", "--bundle", "{bundle}", "{id}"]);
        c.see_exit("create with a label", &created, &[]);
        c.rt(&["delete", "--force", "{id}"]);
        c.see_host("create with a label: left on the host");
        let create_reason = error_reason(&created.stderr);

        c.config(|v| {
            v["process"]["args"] = json!(["sleep", "100"]);
            v["process"][field] = json!(null);
        });
        let id = c.new_id("exec");
        c.rt(&["run", "--detach", "--bundle", "{bundle}", &id]);
        let out = c.rt(&["exec", flag, value, &id, "true"]);
        c.see_out("exec with the flag", &out, &[]);
        c.see(
            "exec with the flag fails for create's reason",
            error_reason(&out.stderr) == create_reason,
        );
        let p = c.dir.join("process.json");
        let process = json!({"args": ["true"], "cwd": "/", field: value});
        std::fs::write(&p, process.to_string()).unwrap();
        let out = c.rt(&["exec", "-p", p.to_str().unwrap(), &id]);
        c.see_out("exec -p with a label", &out, &[]);
        c.see(
            "exec -p fails for create's reason",
            error_reason(&out.stderr) == create_reason,
        );
        c.see_out("exec without one", &c.rt(&["exec", &id, "true"]), &[]);
        c.rt(&["delete", "--force", &id]);
        c.see_host("left on the host");
    });
}
