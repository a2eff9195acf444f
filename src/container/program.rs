//! `berth check`: can the container's program run? Found as exec finds it
//! (PATH, from the container's cwd), resolved inside the rootfs only (a
//! symlink never leads out of it, mounts::open_in_root), then looked at as
//! the kernel would: an ELF for this machine whose interpreter (PT_INTERP)
//! is in the rootfs, or a `#!` script whose interpreter is, without a CR in
//! its `#!` line; executable, not a directory.

use crate::config::Findings;
use crate::mounts::open_in_root;
use crate::process::elf::{Elf, host_machine, machine_name, runs_on};
use rustix::fs::OFlags;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;

const AT: &str = "process.args[0]";
/// The kernel's limit on nested interpreters (BINPRM_MAX_RECURSION).
const MAX_DEPTH: u32 = 4;
/// How much of a `#!` line the kernel reads (BINPRM_BUF_SIZE).
const BINPRM_BUF_SIZE: usize = 256;

/// Checks `args[0]` of a process whose root is `root`. `hidden` says
/// whether a path lies under a mount of the config (what is there is not
/// in the rootfs; berth cannot look before the mount exists).
pub fn check(
    root: BorrowedFd,
    program: &str,
    cwd: &Path,
    env: &[String],
    hidden: &dyn Fn(&Path) -> bool,
    f: &mut Findings,
) {
    if program.contains('/') {
        let path = cwd.join(program);
        if !hidden(&path) {
            examine(root, &path, &path.display().to_string(), 0, f);
        }
        return;
    }
    let search = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let mut unsure = false;
    for dir in search.split(':') {
        let candidate = cwd
            .join(if dir.is_empty() { "." } else { dir })
            .join(program);
        unsure |= hidden(&candidate);
        let Ok(fd) = open_in_root(root, &candidate, OFlags::empty()) else {
            continue;
        };
        if let Ok(st) = rustix::fs::fstat(&fd)
            && is_reg(st.st_mode)
            && st.st_mode & 0o111 != 0
        {
            return examine(root, &candidate, &candidate.display().to_string(), 0, f);
        }
    }
    if !unsure {
        f.error(
            "program.not-found",
            AT,
            format!("\"{program}\": executable file not found in $PATH ({search}) in the rootfs"),
        );
    }
}

fn is_reg(mode: u32) -> bool {
    mode & libc::S_IFMT == libc::S_IFREG
}

/// `what` names the file in messages: the program, or an interpreter and
/// whose it is.
fn examine(root: BorrowedFd, path: &Path, what: &str, depth: u32, f: &mut Findings) {
    let fd = match open_in_root(root, path, OFlags::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => {
            return f.error(
                if depth == 0 {
                    "program.missing"
                } else {
                    "program.interpreter-missing"
                },
                AT,
                format!("{what}: no such file or directory in the rootfs"),
            );
        }
        Err(e) => {
            return f.error(
                "program.unreadable",
                AT,
                format!("{what}: {}", crate::error::errno_text(&e.into())),
            );
        }
    };
    let Ok(st) = rustix::fs::fstat(&fd) else {
        return;
    };
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        return f.error(
            "program.directory",
            AT,
            format!("{what} is a directory: permission denied"),
        );
    }
    if !is_reg(st.st_mode) {
        return f.error(
            "program.not-file",
            AT,
            format!("{what} is not a regular file: permission denied"),
        );
    }
    if st.st_mode & 0o111 == 0 {
        return f.error(
            "program.not-executable",
            AT,
            format!(
                "{what} is not executable (mode {:o}): permission denied",
                st.st_mode & 0o7777
            ),
        );
    }
    // The kernel refuses to exec from a noexec mount (the rootfs's bind
    // keeps its filesystem's flag), an interpreter's too.
    if rustix::fs::fstatvfs(&fd)
        .is_ok_and(|v| v.f_flag.contains(rustix::fs::StatVfsMountFlags::NOEXEC))
    {
        return f.error(
            "program.noexec",
            AT,
            format!("{what} is on a filesystem mounted noexec: permission denied"),
        );
    }
    // O_PATH cannot be read: reopened through /proc (the host's; only the
    // rootfs was resolved in the root).
    let Ok(file) = std::fs::File::open(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())) else {
        return;
    };
    let mut head = vec![0u8; BINPRM_BUF_SIZE];
    let n = file.read_at(&mut head, 0).unwrap_or(0);
    head.truncate(n);
    if head.starts_with(b"\x7fELF") {
        elf(root, &file, &head, what, f);
    } else if head.starts_with(b"#!") {
        script(root, &head, what, depth, f);
    } else {
        f.error(
            "program.format",
            AT,
            format!("{what} is neither an ELF binary nor a #! script: exec format error"),
        );
    }
}

fn script(root: BorrowedFd, head: &[u8], what: &str, depth: u32, f: &mut Findings) {
    let line = head[2..].split(|b| *b == b'\n').next().unwrap_or_default();
    if line.ends_with(b"\r") {
        return f.error(
            "program.crlf",
            AT,
            format!(
                "{what}: its #! line ends in a CR (a file with CRLF line ends): the kernel looks for an interpreter whose name ends in \\r"
            ),
        );
    }
    let line = String::from_utf8_lossy(line);
    let Some(interp) = line.split([' ', '\t']).find(|w| !w.is_empty()) else {
        return f.error(
            "program.format",
            AT,
            format!("{what}: its #! line names no interpreter: exec format error"),
        );
    };
    if depth + 1 >= MAX_DEPTH {
        return f.error(
            "program.format",
            AT,
            format!("{what}: more than {MAX_DEPTH} nested #! interpreters"),
        );
    }
    let next = format!("{interp} (the #! interpreter of {what})");
    examine(root, Path::new(interp), &next, depth + 1, f);
}

/// An ELF's machine (against this host's) and its PT_INTERP.
fn elf(root: BorrowedFd, file: &std::fs::File, head: &[u8], what: &str, f: &mut Findings) {
    let Some(h) = Elf::parse(head) else {
        return f.error(
            "program.format",
            AT,
            format!("{what}: a truncated ELF header: exec format error"),
        );
    };
    let host = host_machine();
    if host != 0 && !runs_on(h.machine, host) {
        return f.error(
            "program.machine",
            AT,
            format!(
                "{what} is an ELF for machine {} ({}), this host runs {} ({}): exec format error",
                h.machine,
                machine_name(h.machine),
                host,
                machine_name(host)
            ),
        );
    }
    let Some(interp) = h.interp(file) else { return };
    if let Err(rustix::io::Errno::NOENT) = open_in_root(root, &interp, OFlags::empty()) {
        f.error(
            "program.interpreter-missing",
            AT,
            format!(
                "{what}: its ELF interpreter {} is not in the rootfs (no such file or directory): a dynamically linked program needs its loader and libraries",
                interp.display()
            ),
        );
    }
}
