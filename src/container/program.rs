//! `berth check`: can the container's program run? Found as exec finds it
//! (PATH, from the container's cwd), resolved inside the rootfs only (a
//! symlink never leads out of it, mounts::open_in_root), then looked at as
//! the kernel would: an ELF for this machine whose interpreter (PT_INTERP)
//! is in the rootfs, or a `#!` script whose interpreter is, without a CR in
//! its `#!` line; executable, not a directory.

use crate::config::Findings;
use crate::mounts::open_in_root;
use rustix::fs::OFlags;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const AT: &str = "process.args[0]";
/// The kernel's limit on nested interpreters (BINPRM_MAX_RECURSION).
const MAX_DEPTH: u32 = 4;
/// How much of a `#!` line the kernel reads (BINPRM_BUF_SIZE).
const BINPRM_BUF_SIZE: usize = 256;
const PT_INTERP: u32 = 3;

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
    if let Some(host) = host_machine()
        && !runs_on(h.machine, host)
    {
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

struct Elf {
    is64: bool,
    le: bool,
    machine: u16,
    phoff: u64,
    phentsize: u64,
    phnum: u64,
}

impl Elf {
    fn parse(b: &[u8]) -> Option<Elf> {
        let is64 = *b.get(4)? == 2;
        let le = *b.get(5)? == 1;
        let u16_at = |o: usize| -> Option<u64> {
            let x: [u8; 2] = b.get(o..o + 2)?.try_into().ok()?;
            Some(if le {
                u16::from_le_bytes(x)
            } else {
                u16::from_be_bytes(x)
            } as u64)
        };
        let (phoff, phentsize, phnum) = if is64 {
            (num(b.get(32..40)?, le), u16_at(54)?, u16_at(56)?)
        } else {
            (num(b.get(28..32)?, le), u16_at(42)?, u16_at(44)?)
        };
        Some(Elf {
            is64,
            le,
            machine: u16_at(18)? as u16,
            phoff,
            phentsize,
            phnum,
        })
    }

    /// The PT_INTERP path, if the program has one (a static one has not).
    fn interp(&self, file: &std::fs::File) -> Option<PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        for i in 0..self.phnum.min(256) {
            let mut ph = [0u8; 56];
            let len = (self.phentsize as usize).min(56);
            file.read_exact_at(&mut ph[..len], self.phoff + i * self.phentsize)
                .ok()?;
            if num(&ph[0..4], self.le) as u32 != PT_INTERP {
                continue;
            }
            let (off, size) = if self.is64 {
                (num(&ph[8..16], self.le), num(&ph[32..40], self.le))
            } else {
                (num(&ph[4..8], self.le), num(&ph[16..20], self.le))
            };
            let mut s = vec![0u8; size.min(4096) as usize];
            file.read_exact_at(&mut s, off).ok()?;
            let end = s.iter().position(|b| *b == 0).unwrap_or(s.len());
            return Some(PathBuf::from(std::ffi::OsStr::from_bytes(&s[..end])));
        }
        None
    }
}

/// A little- or big-endian unsigned number of 4 or 8 bytes.
fn num(b: &[u8], le: bool) -> u64 {
    let mut x = [0u8; 8];
    if le {
        x[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(x)
    } else {
        x[8 - b.len()..].copy_from_slice(b);
        u64::from_be_bytes(x)
    }
}

/// e_machine of berth's own binary: this host's.
fn host_machine() -> Option<u16> {
    let file = std::fs::File::open("/proc/self/exe").ok()?;
    let mut head = [0u8; 64];
    file.read_exact_at(&mut head, 0).ok()?;
    Elf::parse(&head).map(|e| e.machine)
}

/// The machines whose programs this kernel runs natively: its own, and the
/// 32-bit one it has a compat layer for.
fn runs_on(machine: u16, host: u16) -> bool {
    machine == host || matches!((host, machine), (62, 3) | (183, 40))
}

fn machine_name(m: u16) -> &'static str {
    match m {
        3 => "i386",
        8 => "mips",
        20 => "ppc",
        21 => "ppc64",
        22 => "s390",
        40 => "arm",
        62 => "x86_64",
        183 => "aarch64",
        243 => "riscv",
        258 => "loongarch",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 32-bit big-endian ELF header (a ppc binary's layout) is read with
    /// its own offsets and byte order.
    #[test]
    fn reads_32_bit_big_endian_headers() {
        let mut h = vec![0u8; 52];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 1; // ELFCLASS32
        h[5] = 2; // ELFDATA2MSB
        h[18..20].copy_from_slice(&20u16.to_be_bytes());
        h[28..32].copy_from_slice(&52u32.to_be_bytes());
        h[42..44].copy_from_slice(&32u16.to_be_bytes());
        h[44..46].copy_from_slice(&3u16.to_be_bytes());
        let e = Elf::parse(&h).unwrap();
        assert_eq!((e.is64, e.le, e.machine), (false, false, 20));
        assert_eq!((e.phoff, e.phentsize, e.phnum), (52, 32, 3));
        assert!(!runs_on(e.machine, 62));
    }

    #[test]
    fn finds_the_interpreter_of_a_dynamic_program() {
        let file = std::fs::File::open("/bin/ls").unwrap();
        let mut head = [0u8; 64];
        file.read_exact_at(&mut head, 0).unwrap();
        let e = Elf::parse(&head).unwrap();
        let interp = e.interp(&file).unwrap();
        assert!(interp.to_string_lossy().contains("ld-"), "{interp:?}");
        // busybox-static has none.
        let file = std::fs::File::open("/bin/busybox").unwrap();
        file.read_exact_at(&mut head, 0).unwrap();
        assert_eq!(Elf::parse(&head).unwrap().interp(&file), None);
        assert!(runs_on(3, 62) && runs_on(62, 62) && !runs_on(183, 62));
    }

    #[test]
    fn a_truncated_header_is_not_an_elf() {
        assert!(Elf::parse(b"\x7fELF\x02\x01").is_none());
    }
}
