//! runc's log format: logrus text lines (`time="..." level=error msg="..."`)
//! or one JSON object per line (`{"level":..,"msg":..,"time":..}`), to the
//! --log file or to stderr. Clients read the last error line of --log.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::time::SystemTime;

struct Logger {
    file: Option<File>,
    json: bool,
    debug: bool,
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
    let _ = LOGGER.set(Logger { file, json, debug });
    Ok(())
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
    let time = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let Some(l) = LOGGER.get() else {
        eprintln!("{}", text_line(level, msg, &time));
        return;
    };
    let line = if l.json {
        json_line(level, msg, &time)
    } else {
        text_line(level, msg, &time)
    };
    match &l.file {
        Some(f) => {
            let _ = (&*f).write_all(format!("{line}\n").as_bytes());
        }
        None => eprintln!("{line}"),
    }
}

fn json_line(level: &str, msg: &str, time: &str) -> String {
    serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string()
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
    fn json_line_has_runc_keys() {
        let v: serde_json::Value =
            serde_json::from_str(&json_line("error", "x", "2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "x");
        assert_eq!(v["time"], "2026-01-01T00:00:00Z");
    }
}
