//! The one-way structure of src/ (DEVELOPERS.md), checked: every `crate::`,
//! `super::` and `self::` path in the source (use lines, multi-line use
//! groups and paths inline in code alike) is resolved to the module it
//! names, and a path against the flow fails the test with its file and line:
//!
//!   commands → container → pieces (process, mounts, cgroups, seccomp,
//!   hooks, criu) → config (data and its validation) → syscall, error, logging
//!
//! No piece imports another piece. Inside container/, the flows (create,
//! init, exec, lifecycle, resources) share helpers (dir, state, sync, plan,
//! shared, ...) but never borrow from one another; only create, which
//! forks the container's init, reaches into init.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const PIECES: &[&str] = &["process", "mounts", "cgroups", "seccomp", "hooks", "criu"];
const BOTTOM: &[&str] = &["syscall", "netlink", "mountinfo", "error", "logging"];
const CONTAINER_FLOWS: &[&str] = &[
    "create",
    "init",
    "exec",
    "lifecycle",
    "resources",
    "checkpoint",
    "restore",
];

/// What each top-level module may name, besides itself.
fn allowed(from: &str, to: &str) -> bool {
    if from == to {
        return true;
    }
    let bottom = BOTTOM.contains(&to);
    match from {
        "main" => to == "commands" || bottom,
        "commands" => to == "container" || to == "config" || bottom,
        "container" => PIECES.contains(&to) || to == "config" || bottom,
        f if PIECES.contains(&f) => to == "config" || bottom,
        "config" => bottom,
        // The bottom: system calls and the mount table may carry the error
        // type, nothing more.
        "syscall" | "netlink" | "mountinfo" => to == "error",
        "error" | "logging" => false,
        _ => false,
    }
}

/// Inside container/: may module `from` name module `to`?
fn allowed_in_container(from: &str, to: &str) -> bool {
    if from == to || !CONTAINER_FLOWS.contains(&to) {
        return true;
    }
    from == "create" && to == "init"
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Colons,
    Open,
    Close,
    Comma,
    Other,
}

/// The tokens of Rust source that matter for paths, with their lines;
/// comments, strings and char literals dropped.
fn tokens(src: &str) -> Vec<(Tok, usize)> {
    let b = src.as_bytes();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    let skip_to = |i: &mut usize, line: &mut usize, end: usize| {
        *line += b[*i..end].iter().filter(|&&c| c == b'\n').count();
        *i = end;
    };
    while i < b.len() {
        let c = b[i];
        let rest = &src[i..];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if rest.starts_with("//") {
            let end = rest.find('\n').map_or(b.len(), |n| i + n);
            i = end;
        } else if rest.starts_with("/*") {
            // Block comments nest in Rust.
            let (mut depth, mut j) = (0, i);
            while j < b.len() {
                if src[j..].starts_with("/*") {
                    depth += 1;
                    j += 2;
                } else if src[j..].starts_with("*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            skip_to(&mut i, &mut line, j);
        } else if let Some(hashes) = raw_string_start(rest) {
            let open = 2 + hashes + usize::from(rest.starts_with("br"));
            let close = format!("\"{}", "#".repeat(hashes));
            let end = src[i + open..]
                .find(&close)
                .map_or(b.len(), |n| i + open + n + close.len());
            skip_to(&mut i, &mut line, end);
        } else if c == b'"' || rest.starts_with("b\"") {
            let mut j = i + if c == b'"' { 1 } else { 2 };
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            skip_to(&mut i, &mut line, (j + 1).min(b.len()));
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let close = if rest[1..].starts_with('\\') {
                rest[2..].find('\'').map(|n| n + 3)
            } else {
                rest[1..]
                    .char_indices()
                    .nth(1)
                    .filter(|&(_, ch)| ch == '\'')
                    .map(|(n, _)| n + 2)
            };
            i += close.unwrap_or(1);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let len = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            out.push((Tok::Ident(rest[..len].to_string()), line));
            i += len;
        } else if rest.starts_with("::") {
            out.push((Tok::Colons, line));
            i += 2;
        } else if !c.is_ascii() {
            // A character outside ASCII: never part of a path.
            i += rest.chars().next().map_or(1, char::len_utf8);
        } else {
            out.push((
                match c {
                    b'{' => Tok::Open,
                    b'}' => Tok::Close,
                    b',' => Tok::Comma,
                    _ => Tok::Other,
                },
                line,
            ));
            i += 1;
        }
    }
    out
}

/// `r"`, `r#"`, `br##"`...: how many hashes, or None.
fn raw_string_start(s: &str) -> Option<usize> {
    let s = s.strip_prefix('b').unwrap_or(s).strip_prefix('r')?;
    let hashes = s.len() - s.trim_start_matches('#').len();
    s[hashes..].starts_with('"').then_some(hashes)
}

/// A path found in the source: the module path it starts from (as written:
/// `crate`, `super`, `self` or the crate's name), its segments, its line.
#[derive(Debug)]
struct Found {
    segments: Vec<String>,
    line: usize,
}

/// Every path starting at `crate`, `super`, `self` or `berth` followed by
/// `::`, with use groups (`{a, b::{c, d}}`) expanded into one path each;
/// each is resolved against the module it sits in (inline `mod x { .. }`
/// counted), so the result is absolute from the crate root.
fn paths(src: &str, module: &[String]) -> Vec<Found> {
    let toks = tokens(src);
    let mut out = Vec::new();
    // Inline modules: (name, brace depth at which it closes).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Ident(m)
                if m == "mod"
                    && matches!(toks.get(i + 2), Some((Tok::Open, _)))
                    && matches!(toks.get(i + 1), Some((Tok::Ident(_), _))) =>
            {
                if let Some((Tok::Ident(name), _)) = toks.get(i + 1) {
                    inline.push((name.clone(), depth));
                }
            }
            Tok::Ident(start)
                if matches!(start.as_str(), "crate" | "super" | "self" | "berth")
                    && matches!(toks.get(i + 1), Some((Tok::Colons, _)))
                    // `x::self` inside a group is not a start.
                    && !(i > 0 && toks[i - 1].0 == Tok::Colons) =>
            {
                let here: Vec<String> = module
                    .iter()
                    .cloned()
                    .chain(inline.iter().map(|(n, _)| n.clone()))
                    .collect();
                let mut found = Vec::new();
                let end = tree(&toks, i, (Vec::new(), 0), &mut found);
                for (segs, line) in found {
                    if let Some(abs) = resolve(&here, &segs) {
                        out.push(Found {
                            segments: abs,
                            line,
                        });
                    }
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// A path's segments and the line of its last one.
type Path1 = (Vec<String>, usize);

/// Reads one use tree from `toks[i]`: segments joined by `::`, ending in a
/// group or not. Pushes each complete path; returns the index after it.
fn tree(toks: &[(Tok, usize)], mut i: usize, mut prefix: Path1, out: &mut Vec<Path1>) -> usize {
    loop {
        match toks.get(i) {
            Some((Tok::Ident(s), line)) => {
                if s != "self" || prefix.0.is_empty() {
                    prefix.0.push(s.clone());
                }
                prefix.1 = *line;
                i += 1;
            }
            Some((Tok::Open, _)) => {
                i += 1;
                loop {
                    match toks.get(i).map(|t| &t.0) {
                        Some(Tok::Close) => return i + 1,
                        None => return i,
                        Some(Tok::Ident(_)) => i = tree(toks, i, prefix.clone(), out),
                        // `,`, and `*` (a glob names nothing new).
                        _ => i += 1,
                    }
                }
            }
            _ => {
                out.push(prefix);
                return i;
            }
        }
        match toks.get(i).map(|t| &t.0) {
            Some(Tok::Colons) => i += 1,
            // `x as y`: the path is x.
            Some(Tok::Ident(a)) if a == "as" => {
                out.push(prefix);
                return i + 2;
            }
            _ => {
                out.push(prefix);
                return i;
            }
        }
    }
}

/// Makes a path absolute from the crate root; None for `*` globs of a
/// module's own items and anything that leaves the crate.
fn resolve(here: &[String], segs: &[String]) -> Option<Vec<String>> {
    let mut abs: Vec<String> = Vec::new();
    let mut it = segs.iter().peekable();
    match it.next().map(String::as_str) {
        Some("crate") | Some("berth") => {}
        Some("self") => abs.extend_from_slice(here),
        Some("super") => {
            abs.extend_from_slice(here);
            abs.pop()?;
            while it.peek().is_some_and(|s| *s == "super") {
                it.next();
                abs.pop()?;
            }
        }
        _ => return None,
    }
    abs.extend(it.cloned());
    Some(abs)
}

/// src/a/b.rs and src/a/b/mod.rs are module a::b; lib.rs the root; main.rs
/// the binary, called "main" here.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every path in src/ against the flow, as "file:line: a -> b" lines.
fn violations(src: &Path) -> (Vec<String>, usize) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let (mut bad, mut seen) = (Vec::new(), 0);
    for file in &files {
        let module = module_of(src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let rel = file.strip_prefix(src.parent().unwrap()).unwrap().display();
        for f in paths(&text, &module) {
            seen += 1;
            let Some(to) = f.segments.first() else {
                continue;
            };
            let from = module.first().map(String::as_str).unwrap_or("lib");
            if from == "lib" {
                // lib.rs declares the modules.
                continue;
            }
            if !allowed(from, to) {
                bad.push(format!(
                    "{rel}:{}: {from} -> {}",
                    f.line,
                    f.segments.join("::")
                ));
            } else if from == "container" && to == "container" {
                let (Some(a), Some(b)) = (module.get(1), f.segments.get(1)) else {
                    continue;
                };
                if !allowed_in_container(a, b) {
                    bad.push(format!(
                        "{rel}:{}: container::{a} -> {}",
                        f.line,
                        f.segments.join("::")
                    ));
                }
            }
        }
    }
    (bad, seen)
}

#[test]
fn every_path_in_src_follows_the_flow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (bad, seen) = violations(&src);
    // The walk must really have read the tree: berth names its own modules
    // hundreds of times.
    assert!(
        seen > 300,
        "only {seen} paths found under {}",
        src.display()
    );
    assert!(
        bad.is_empty(),
        "{} paths against the flow (DEVELOPERS.md; tests/flow.rs says what may name what):\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[cfg(test)]
mod parser {
    use super::*;

    fn found(src: &str, module: &[&str]) -> Vec<String> {
        let m: Vec<String> = module.iter().map(|s| s.to_string()).collect();
        paths(src, &m)
            .into_iter()
            .map(|f| format!("{}:{}", f.line, f.segments.join("::")))
            .collect()
    }

    #[test]
    fn use_lines_groups_and_inline_paths() {
        let src = "use crate::error::SysError as E;\n\
                   use crate::{\n    cgroups::{self, Manager as M},\n    mounts,\n};\n\
                   fn f() { crate::process::foreground::wait(); }\n";
        assert_eq!(
            found(src, &["container", "exec"]),
            [
                "1:error::SysError",
                "3:cgroups",
                "3:cgroups::Manager",
                "4:mounts",
                "6:process::foreground::wait"
            ]
        );
    }

    #[test]
    fn super_and_self_resolve_against_the_module_and_inline_mods() {
        let src = "use super::create::Mode;\nuse self::x::Y;\nmod tests {\n    use super::*;\n    use super::super::dir;\n}\nuse super::super::mounts::Plan;\n";
        assert_eq!(
            found(src, &["container", "init"]),
            [
                "1:container::create::Mode",
                "2:container::init::x::Y",
                "4:container::init",
                "5:container::dir",
                "7:mounts::Plan"
            ]
        );
    }

    #[test]
    fn comments_strings_and_chars_are_not_paths() {
        let src = "// crate::commands::x\n/* crate::commands /* nested */ crate::y */\n\
                   let s = \"crate::commands\"; let r = r#\"crate::commands\"#;\n\
                   let c = '\"'; fn f<'a>(x: &'a str) { crate::error::E }\n";
        assert_eq!(found(src, &["logging"]), ["4:error::E"]);
    }

    #[test]
    fn the_rules_refuse_what_the_issue_lists() {
        assert!(!allowed("logging", "commands"));
        assert!(!allowed("cgroups", "mounts"));
        assert!(!allowed("config", "process"));
        assert!(!allowed("process", "seccomp"));
        assert!(!allowed("commands", "process"));
        assert!(allowed("container", "process"));
        assert!(allowed("mounts", "config"));
        assert!(!allowed_in_container("exec", "create"));
        assert!(!allowed_in_container("init", "create"));
        assert!(allowed_in_container("create", "init"));
        assert!(allowed_in_container("exec", "shared"));
    }

    #[test]
    fn a_violation_is_reported_with_its_line() {
        let dir = std::env::temp_dir().join(format!("berth-flow-{}", std::process::id()));
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("cgroups")).unwrap();
        std::fs::write(
            src.join("cgroups/mod.rs"),
            "use crate::error::E;\nuse crate::{\n    config::C,\n    mounts::CgroupView,\n};\n",
        )
        .unwrap();
        let (bad, seen) = violations(&src);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(seen, 3);
        assert_eq!(bad, ["src/cgroups/mod.rs:4: cgroups -> mounts::CgroupView"]);
    }
}

// The summary for a human: which module names which, and how often.
#[test]
#[ignore = "prints the module graph: cargo test --test flow -- --ignored --nocapture"]
fn print_the_graph() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<(String, String), usize> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        for f in paths(&text, &module) {
            let from = module.first().cloned().unwrap_or_default();
            let to = f.segments.first().cloned().unwrap_or_default();
            if from != to {
                *edges.entry((from, to)).or_default() += 1;
            }
        }
    }
    for ((a, b), n) in edges {
        println!("{a} -> {b} ({n})");
    }
}
