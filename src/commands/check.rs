//! `berth check`: every problem of a bundle at once, creating nothing.
//! Exit status 0 when clean, 1 on any error (with --strict, on any warning
//! too), 2 on a wrong command line (main.rs, through `USAGE_STATUS`).

use super::GlobalOpts;
use super::args::{self, Command, Flag, Parsed};
use crate::config::{Findings, Severity};
use crate::container::{self, CheckOpts};
use lexopt::Parser;
use std::path::PathBuf;

/// The version of `--format json`'s document; raised on any change a
/// reader could trip on (a field removed or renamed, a meaning changed).
const SCHEMA_VERSION: u32 = 1;

/// `--format json`'s document, its fields in this order.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    schema_version: u32,
    bundle: &'a str,
    findings: &'a [crate::config::Finding],
}

/// What a wrong `berth check` command line exits with.
pub const USAGE_STATUS: i32 = 2;

#[derive(Debug)]
pub struct CheckArgs {
    pub bundle: PathBuf,
    pub json: bool,
    pub strict: bool,
    pub spec_only: bool,
}

impl Default for CheckArgs {
    fn default() -> Self {
        CheckArgs {
            bundle: ".".into(),
            json: false,
            strict: false,
            spec_only: false,
        }
    }
}

impl Command for CheckArgs {
    const HELP: &'static str =
        "Usage: berth check [-b DIR] [--format text|json] [--strict] [--spec-only]

Check a bundle without creating anything, and report every problem at once:
config.json against the runtime-spec, then against this host (the program
and its interpreters in the rootfs, bind sources, hooks, namespace paths,
cgroup controllers, seccomp actions, AppArmor). Exit status 0 when clean,
1 on any error (with --strict, on any warning too), 2 on a wrong command line.

  -b, --bundle DIR   the bundle: config.json and rootfs (default .)
      --format FMT   text (default) or json: {\"schemaVersion\":1,\"bundle\":...,
                     \"findings\":[{\"code\",\"severity\",\"path\",\"message\"}]}
      --strict       also warn of what berth accepts leniently or ignores
                     (unknown fields, device access letters beyond rwm,
                     SELinux labels on a host without SELinux)
      --spec-only    the config alone, not against this host
";
    fn flag(&mut self, f: &Flag, p: &mut Parser) -> Parsed<bool> {
        if f.is('b', "bundle") {
            self.bundle = args::path(p, Self::HELP)?;
        } else if f.long("format") {
            self.json = args::one_of(p, f, &["text", "json"], Self::HELP)? == "json";
        } else if f.long("strict") {
            self.strict = true;
        } else if f.long("spec-only") {
            self.spec_only = true;
        } else {
            return Ok(false);
        }
        Ok(true)
    }
}

pub fn run(g: &GlobalOpts, a: CheckArgs) -> anyhow::Result<i32> {
    let findings = container::check(&CheckOpts {
        bundle: a.bundle.clone(),
        strict: a.strict,
        spec_only: a.spec_only,
        systemd: g.systemd_cgroup,
    });
    let bundle = a.bundle.display().to_string();
    if a.json {
        let doc = Document {
            schema_version: SCHEMA_VERSION,
            bundle: &bundle,
            findings: &findings.0,
        };
        print(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    } else {
        print(&text(&bundle, &findings))?;
    }
    let failed = findings.errors() > 0 || (a.strict && findings.warnings() > 0);
    Ok(i32::from(failed))
}

/// Writes to stdout; a reader that stopped reading (`| head`) is no error.
fn print(s: &str) -> std::io::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(s.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// One line per finding, then a summary line.
fn text(bundle: &str, f: &Findings) -> String {
    let mut out = String::new();
    for x in &f.0 {
        let sev = match x.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!("{sev}[{}] {}: {}\n", x.code, x.path, x.message));
    }
    if f.0.is_empty() {
        out.push_str(&format!("{bundle}: no problems found\n"));
    } else {
        out.push_str(&format!(
            "{bundle}: {} error(s), {} warning(s)\n",
            f.errors(),
            f.warnings()
        ));
    }
    out
}
