//! runc's log format: logrus text lines (`time="..." level=error msg="..."`)
//! or one JSON object per line (`{"level":..,"msg":..,"time":..}`), to the
//! --log file or to stderr. Clients read the last error line of --log.
//!
//! With --debug, each phase of an operation is a `Span`: its duration is
//! logged when it ends, with the W3C trace it belongs to when the
//! environment carries a TRACEPARENT (and a span id of its own, which a
//! hook run in it receives as its TRACEPARENT). Without --debug a span is
//! never made: one load of the logger's settings.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::time::SystemTime;

struct Logger {
    file: Option<File>,
    json: bool,
    debug: bool,
    /// The trace id and parent span id of the environment's TRACEPARENT.
    trace: Option<(String, String)>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Where and how messages go from now on: appended to `log` (stderr when
/// None), as JSON lines or logrus text, debug messages or not. Plain values,
/// so that everything that logs stays below the command line.
pub fn init(log: Option<&Path>, json: bool, debug: bool) -> Result<(), String> {
    let file = match log {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("--log {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let trace = match debug {
        true => std::env::var("TRACEPARENT")
            .ok()
            .and_then(|t| parse_traceparent(&t)),
        false => None,
    };
    let _ = LOGGER.set(Logger {
        file,
        json,
        debug,
        trace,
    });
    Ok(())
}

/// "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>".
fn parse_traceparent(t: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = t.trim().split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    match parts.as_slice() {
        [v, trace, parent, flags]
            if hex(v, 2) && hex(trace, 32) && hex(parent, 16) && hex(flags, 2) =>
        {
            Some((trace.to_lowercase(), parent.to_lowercase()))
        }
        _ => None,
    }
}

/// One phase of an operation, timed from `span` to its drop.
pub struct Span {
    name: String,
    start: std::time::Instant,
    id: String,
}

/// A phase starts; None (and nothing measured) without --debug.
pub fn span(name: impl Into<String>) -> Option<Span> {
    if !LOGGER.get().is_some_and(|l| l.debug) {
        return None;
    }
    Some(Span {
        name: name.into(),
        start: std::time::Instant::now(),
        id: span_id(),
    })
}

impl Span {
    /// The TRACEPARENT a process run in this span gets: the trace of
    /// berth's environment (or a new one), this span as its parent.
    pub fn traceparent(&self) -> String {
        let trace = LOGGER
            .get()
            .and_then(|l| l.trace.as_ref())
            .map(|(t, _)| t.clone())
            .unwrap_or_else(|| format!("{}{}", span_id(), span_id()));
        format!("00-{trace}-{}-01", self.id)
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        let ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let mut fields = vec![
            ("phase", serde_json::Value::from(self.name.as_str())),
            (
                "durationMs",
                serde_json::Value::from((ms * 1000.0).round() / 1000.0),
            ),
        ];
        if let Some((trace, parent)) = LOGGER.get().and_then(|l| l.trace.as_ref()) {
            fields.push(("traceId", trace.as_str().into()));
            fields.push(("spanId", self.id.as_str().into()));
            fields.push(("parentId", parent.as_str().into()));
        }
        write_with(
            "debug",
            &format!("phase {}: {ms:.3} ms", self.name),
            &fields,
        );
    }
}

/// 16 hex digits, unique enough for a span id: the time, the pid and a
/// counter, mixed (never all zero, which W3C reserves).
fn span_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = t
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // splitmix64's finaliser.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    format!("{:016x}", x.max(1))
}

pub fn error(msg: &str) {
    write("error", msg);
    // runc prints the bare error on stderr as well when it logs to a file.
    if LOGGER.get().is_some_and(|l| l.file.is_some()) {
        eprintln!("{msg}");
    }
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

pub fn debug(msg: &str) {
    if LOGGER.get().is_some_and(|l| l.debug) {
        write("debug", msg);
    }
}

fn write(level: &str, msg: &str) {
    write_with(level, msg, &[]);
}

fn write_with(level: &str, msg: &str, fields: &[(&str, serde_json::Value)]) {
    let time = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let Some(l) = LOGGER.get() else {
        eprintln!("{}", text_line(level, msg, &time));
        return;
    };
    let line = if l.json {
        json_line(level, msg, &time, fields)
    } else {
        let mut line = text_line(level, msg, &time);
        for (k, val) in fields {
            match val {
                serde_json::Value::String(s) => line.push_str(&format!(" {k}={}", quote(s))),
                v => line.push_str(&format!(" {k}={v}")),
            }
        }
        line
    };
    match &l.file {
        Some(f) => {
            let _ = (&*f).write_all(format!("{line}\n").as_bytes());
        }
        None => eprintln!("{line}"),
    }
}

fn json_line(level: &str, msg: &str, time: &str, fields: &[(&str, serde_json::Value)]) -> String {
    let mut v = serde_json::json!({ "level": level, "msg": msg, "time": time });
    for (k, val) in fields {
        v[*k] = val.clone();
    }
    v.to_string()
}

fn text_line(level: &str, msg: &str, time: &str) -> String {
    format!("time=\"{time}\" level={level} msg={}", quote(msg))
}

/// Go's %q as logrus uses it for values: quotes, backslashes and control
/// characters escaped, so one message stays one line.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_line_is_one_logrus_line() {
        let l = text_line("error", "bad \"id\"\nnext", "2026-01-01T00:00:00Z");
        assert_eq!(
            l,
            r#"time="2026-01-01T00:00:00Z" level=error msg="bad \"id\"\nnext""#
        );
    }

    #[test]
    fn traceparent_is_read_as_w3c_writes_it() {
        let t = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse_traceparent(t),
            Some((
                "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                "00f067aa0ba902b7".into()
            ))
        );
        assert_eq!(parse_traceparent("00-xyz-00f067aa0ba902b7-01"), None);
        assert_eq!(parse_traceparent(""), None);
        let (a, b) = (span_id(), span_id());
        assert!(a != b && a.len() == 16 && a != "0000000000000000");
    }

    #[test]
    fn json_line_has_runc_keys() {
        let v: serde_json::Value =
            serde_json::from_str(&json_line("error", "x", "2026-01-01T00:00:00Z", &[])).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "x");
        assert_eq!(v["time"], "2026-01-01T00:00:00Z");
    }
}
