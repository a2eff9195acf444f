//! Lifecycle hooks: each runs with the container's state JSON on stdin, its
//! own args and env, and its timeout, and fails the operation (or only
//! warns, for poststart and poststop) as the runtime-spec says.

use oci_spec::runtime::Hook;
use rustix::event::{PollFd, PollFlags};
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
#[error("{kind} hook #{index} ({path}): {msg}")]
pub struct HookError {
    pub kind: &'static str,
    pub index: usize,
    pub path: String,
    pub msg: String,
}

/// Runs every hook of one kind in order; the first failure stops the rest.
/// A hook without env of its own gets berth's environment, as a hook of
/// runc's gets runc's.
pub fn run_all(kind: &'static str, hooks: &[Hook], state: &str) -> Result<(), HookError> {
    run_all_env(kind, hooks, state, None)
}

/// `run_all` where a hook without env of its own gets `env` (None: berth's
/// own): inside the container that is the process's environment, which is
/// what runc's init holds when it runs them.
pub fn run_all_env(
    kind: &'static str,
    hooks: &[Hook],
    state: &str,
    env: Option<&[String]>,
) -> Result<(), HookError> {
    for (index, h) in hooks.iter().enumerate() {
        let span = crate::logging::span(format!("{kind} hook #{index}"));
        let trace = span.as_ref().map(|s| s.traceparent());
        run(h, state, env, trace.as_deref(), Limit::of(h)).map_err(|msg| HookError {
            kind,
            index,
            path: h.path().display().to_string(),
            msg,
        })?;
    }
    Ok(())
}

/// Runs every hook; a failure is logged as a warning and the rest still run.
pub fn run_all_warn(kind: &'static str, hooks: &[Hook], state: &str) {
    run_all_warn_bounded(kind, hooks, state, None)
}

/// `run_all_warn` where a hook without a timeout of its own is killed
/// after `bound` (delete --force, which must finish).
pub fn run_all_warn_bounded(kind: &'static str, hooks: &[Hook], state: &str, bound: Option<Bound>) {
    for (index, h) in hooks.iter().enumerate() {
        let span = crate::logging::span(format!("{kind} hook #{index}"));
        let trace = span.as_ref().map(|s| s.traceparent());
        let limit = match (h.timeout(), bound) {
            (Some(t), _) => Some(Limit::Spec(t)),
            (None, Some(b)) => Some(Limit::Berth(b)),
            (None, None) => None,
        };
        if let Err(msg) = run(h, state, None, trace.as_deref(), limit) {
            crate::logging::warn(
                &HookError {
                    kind,
                    index,
                    path: h.path().display().to_string(),
                    msg,
                }
                .to_string(),
            );
        }
    }
}

/// A default bound on hooks without a timeout of their own: how long, and
/// what sets it (named in the error).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub limit: Duration,
    pub source: &'static str,
}

/// How long a hook may run: the spec's timeout, or berth's bound.
#[derive(Debug, Clone, Copy)]
enum Limit {
    Spec(i64),
    Berth(Bound),
}

impl Limit {
    fn of(h: &Hook) -> Option<Limit> {
        h.timeout().map(Limit::Spec)
    }
    fn duration(self) -> Duration {
        match self {
            Limit::Spec(t) => Duration::from_secs(t.max(0) as u64),
            Limit::Berth(b) => b.limit,
        }
    }
    fn timed_out(self) -> String {
        match self {
            Limit::Spec(t) => format!("timed out after {t} s"),
            Limit::Berth(b) => format!(
                "timed out after {:.1?} (it has no timeout of its own; {})",
                b.limit, b.source
            ),
        }
    }
}

/// Output kept from a hook for the error message.
const OUTPUT_LIMIT: usize = 4096;

/// Runs one hook; `trace` is the TRACEPARENT of its span, when traced.
fn run(
    h: &Hook,
    state: &str,
    default_env: Option<&[String]>,
    trace: Option<&str>,
    limit: Option<Limit>,
) -> Result<(), String> {
    let mut child = command(h, default_env, trace)
        .spawn()
        .map_err(|e| crate::error::errno_text(&e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is no error.
        let _ = stdin.write_all(state.as_bytes());
    }
    let (status, output) = watch(child, limit)?;
    if status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output).trim().to_string();
    let how = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "failed".to_string(),
    };
    Err(if text.is_empty() {
        how
    } else {
        format!("{how}: {text}")
    })
}

/// The hook's command: its args (the first as argv[0]), its environment
/// (given, even empty, it is the whole one; none inherits berth's), its
/// TRACEPARENT, pipes, and death with berth.
fn command(h: &Hook, default_env: Option<&[String]>, trace: Option<&str>) -> Command {
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(h.path());
    if let Some((first, rest)) = args.split_first() {
        cmd.arg0(first).args(rest);
    }
    if let Some(env) = h.env().as_deref().or(default_env) {
        cmd.env_clear();
        for e in env {
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    if let Some(t) = trace {
        cmd.env("TRACEPARENT", t);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A hook outlives no berth: if berth is killed, so is the hook.
    // SAFETY: prctl is async-signal-safe and touches no memory.
    unsafe {
        cmd.pre_exec(|| {
            let _ = rustix::process::set_parent_process_death_signal(Some(
                rustix::process::Signal::KILL,
            ));
            Ok(())
        })
    };
    cmd
}

/// Waits for the hook's exit within `limit`, keeping its output. Blocks on
/// the exit and the output together: no polling loop, and a hook that
/// writes a lot never stalls on a full pipe.
fn watch(
    mut child: std::process::Child,
    limit: Option<Limit>,
) -> Result<(std::process::ExitStatus, Vec<u8>), String> {
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(child.id() as i32).expect("a child has a pid"),
        rustix::process::PidfdFlags::empty(),
    )
    .map_err(|e| crate::error::errno_text(&e.into()))?;
    let deadline = limit.map(|l| Instant::now() + l.duration());
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let mut output = Vec::new();
    let (mut out_open, mut err_open) = (true, true);
    loop {
        if deadline.is_some_and(|d| d <= Instant::now()) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(limit.map(Limit::timed_out).unwrap_or_default());
        }
        let mut fds = vec![PollFd::new(&pidfd, PollFlags::IN)];
        if out_open {
            fds.push(PollFd::new(&out, PollFlags::IN));
        }
        if err_open {
            fds.push(PollFd::new(&err, PollFlags::IN));
        }
        if let Err(e) = crate::syscall::poll_until(&mut fds, deadline) {
            return Err(crate::error::errno_text(&e));
        }
        let exited = !fds[0].revents().is_empty();
        let out_ready = out_open && !fds[1].revents().is_empty();
        let err_ready = err_open && !fds[if out_open { 2 } else { 1 }].revents().is_empty();
        drop(fds);
        if out_ready {
            out_open = drain(&mut out, &mut output);
        }
        if err_ready {
            err_open = drain(&mut err, &mut output);
        }
        if exited {
            break;
        }
    }
    let status = child.wait().map_err(|e| crate::error::errno_text(&e))?;
    // The hook is gone; take what it left in the pipes without waiting for
    // a process it may have left behind holding them open.
    let _ = rustix::fs::fcntl_setfl(&out, rustix::fs::OFlags::NONBLOCK);
    let _ = rustix::fs::fcntl_setfl(&err, rustix::fs::OFlags::NONBLOCK);
    while out_open {
        out_open = drain(&mut out, &mut output);
    }
    while err_open {
        err_open = drain(&mut err, &mut output);
    }
    Ok((status, output))
}

/// Reads what is there; false once the pipe is closed or, non-blocking,
/// empty.
fn drain(r: &mut impl Read, output: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    match r.read(&mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            if output.len() < OUTPUT_LIMIT {
                output.extend_from_slice(&buf[..n.min(OUTPUT_LIMIT - output.len())]);
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn state_on_stdin_args_and_env() {
        let dir = std::env::temp_dir().join(format!("berth-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {0}; echo \"$0 $1 $FOO\" >> {0}","arg0","one"],"env":["FOO=bar"]}}"#,
            out.display()
        ));
        run_all("prestart", &[h], r#"{"id":"x"}"#).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text, "{\"id\":\"x\"}arg0 one bar\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn env_is_inherited_unless_given() {
        let exported = |env: &str, default: Option<&[String]>| {
            let h = hook(&format!(
                r#"{{"path":"/bin/sh","args":["sh","-c","env | grep -q ^PATH="]{env}}}"#
            ));
            run_all_env("prestart", &[h], "{}", default).is_ok()
        };
        assert!(exported("", None), "berth's own environment");
        assert!(!exported(r#","env":[]"#, None), "an empty env is empty");
        assert!(
            !exported("", Some(&["A=1".to_string()])),
            "the default given"
        );
        assert!(
            exported(r#","env":["PATH=/bin"]"#, Some(&[])),
            "the hook's own"
        );
    }

    #[test]
    fn failure_carries_status_and_output() {
        let h = hook(r#"{"path":"/bin/sh","args":["sh","-c","echo oops >&2; exit 3"]}"#);
        let e = run_all("createRuntime", &[h], "{}")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "createRuntime hook #0 (/bin/sh): exited with status 3: oops"
        );
    }

    #[test]
    fn timeout_kills_the_hook() {
        let h = hook(r#"{"path":"/bin/sleep","args":["sleep","10"],"timeout":1}"#);
        let t = Instant::now();
        let e = run_all("prestart", &[h], "{}").unwrap_err().to_string();
        assert!(e.ends_with("timed out after 1 s"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
