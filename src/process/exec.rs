//! The user's program: found on the container's PATH (once the root is the
//! container's) and exec'd with exactly the config's argv and environment.
//!
//! CVE-2019-5736: a process running berth's image must never exec berth's
//! own binary in the container (through /proc/self/exe, as a symlink or a
//! script's interpreter), or the new, dumpable process would hand the
//! container a handle to the host's berth. So the program, and the
//! interpreter of each script on the way, is opened without following any
//! /proc magic link, checked not to be berth's binary, and exec'd from that
//! very fd; scripts are run the way the kernel would run them, but from
//! interpreters berth opened and checked.

use crate::error::errno_text;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::ffi::CString;
use std::io;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why the program could not run, in runc's words: clients turn
/// "executable file not found" and "no such file or directory" into exit
/// status 127, and "permission denied" into 126.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("exec: \"{0}\": is a directory: permission denied")]
    IsDirectory(String),
    #[error("exec: \"{0}\": permission denied")]
    NotExecutable(String),
    #[error("exec: \"{program}\": stat {program}: {}", errno_text(.source))]
    Stat { program: String, source: io::Error },
    #[error("exec: \"{0}\": executable file not found in $PATH")]
    NotFound(String),
    #[error(
        "exec {0}: it leads through a /proc magic link, which berth does not follow (CVE-2019-5736)"
    )]
    MagicLink(String),
    #[error("exec {0}: it is berth's own binary, which never runs in a container (CVE-2019-5736)")]
    OwnBinary(String),
    /// Opening, reading or exec'ing the file failed.
    #[error("exec {path}: {}", errno_text(.source))]
    File { path: String, source: io::Error },
    /// The same, with the reason behind the kernel's errno: the phrase
    /// clients parse first, then why.
    #[error("exec {path}: {}: {why}", errno_text(.source))]
    Explained {
        path: String,
        source: io::Error,
        why: String,
    },
    #[error("exec {0}: exec format error")]
    NoInterpreter(String),
    #[error("exec {0}: too many levels of script interpreters")]
    TooManyInterpreters(String),
    #[error("argument or environment holds a NUL byte")]
    Nul,
}

impl ExecError {
    /// The errno execve would have given, as data for the parent.
    pub fn errno(&self) -> Option<i32> {
        match self {
            ExecError::IsDirectory(_) | ExecError::NotExecutable(_) => Some(libc::EACCES),
            ExecError::Stat { source, .. }
            | ExecError::File { source, .. }
            | ExecError::Explained { source, .. } => source.raw_os_error(),
            ExecError::NotFound(_) => Some(libc::ENOENT),
            ExecError::MagicLink(_) | ExecError::TooManyInterpreters(_) => Some(libc::ELOOP),
            ExecError::NoInterpreter(_) => Some(libc::ENOEXEC),
            ExecError::OwnBinary(_) => Some(libc::EPERM),
            ExecError::Nul => Some(libc::EINVAL),
        }
    }
}

/// Resolves args[0] as Go's exec.LookPath does, with runc's wording.
pub fn find(program: &str, env: &[String]) -> Result<PathBuf, ExecError> {
    if program.contains('/') {
        return match std::fs::metadata(program) {
            // execve's EACCES, whose phrase clients turn into 126.
            Ok(m) if m.is_dir() => Err(ExecError::IsDirectory(program.into())),
            Ok(m) if m.permissions().mode() & 0o111 == 0 => {
                Err(ExecError::NotExecutable(program.into()))
            }
            Ok(_) => Ok(PathBuf::from(program)),
            Err(source) => Err(ExecError::Stat {
                program: program.into(),
                source,
            }),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(program);
        if let Ok(m) = std::fs::metadata(&candidate)
            && m.is_file()
            && m.permissions().mode() & 0o111 != 0
        {
            return Ok(candidate);
        }
    }
    Err(ExecError::NotFound(program.into()))
}

/// (st_dev, st_ino) of berth's own binary, taken while /proc is the host's.
pub fn own_binary() -> Option<(u64, u64)> {
    std::fs::metadata("/proc/self/exe").ok().map(|m| {
        use std::os::unix::fs::MetadataExt;
        (m.dev(), m.ino())
    })
}

/// The kernel's limit on nested interpreters (BINPRM_MAX_RECURSION).
const MAX_SCRIPTS: usize = 4;

/// What the process will exec: the file, opened and checked, its argv and
/// its environment.
pub struct Executable {
    fd: OwnedFd,
    argv: Vec<String>,
    path: PathBuf,
    env: Vec<String>,
    /// What the file exec'd (the program, or a script's interpreter) is.
    kind: Kind,
}

/// What the file exec'd is, from the head berth read anyway: reason
/// enough to explain a failed exec without touching anything else then
/// (the process runs under its seccomp filter by that time).
#[derive(Debug)]
enum Kind {
    Elf {
        file: String,
        machine: u16,
        interp: Option<PathBuf>,
    },
    /// Neither ELF nor `#!`.
    Other(String),
    /// Not readable (execute-only).
    Unread,
}

/// How much of the file berth reads: the kernel's `#!` line
/// (BINPRM_BUF_SIZE, 256 bytes) and an ELF's program headers and
/// interpreter, which linkers put in the first KiB.
const HEAD: usize = 1024;

impl Executable {
    pub fn env(&self) -> &[String] {
        &self.env
    }
}

/// Opens what to exec and the argv to give it, following scripts' #!
/// lines ourselves. Done before the process waits for start, so that a
/// refusal fails create, and the file exec'd is the file checked.
pub fn prepare(
    path: &Path,
    args: &[String],
    env: Vec<String>,
    berth: Option<(u64, u64)>,
) -> Result<Executable, ExecError> {
    let (fd, argv, kind) = resolve(path, args, berth)?;
    Ok(Executable {
        fd,
        argv,
        path: path.to_path_buf(),
        env,
        kind,
    })
}

fn resolve(
    path: &Path,
    args: &[String],
    berth: Option<(u64, u64)>,
) -> Result<(OwnedFd, Vec<String>, Kind), ExecError> {
    let mut path = path.to_path_buf();
    let mut argv: Vec<String> = args.to_vec();
    // The script whose #! line named `path`.
    let mut script: Option<String> = None;
    for _ in 0..=MAX_SCRIPTS {
        let shown = path.display().to_string();
        let fd = rustix::fs::openat2(
            rustix::fs::CWD,
            &path,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::NO_MAGICLINKS,
        )
        .or_else(|e| match e {
            // Execute-only: it can still be exec'd, it just cannot be a
            // script we read (the kernel would refuse to run it too).
            rustix::io::Errno::ACCESS => rustix::fs::openat2(
                rustix::fs::CWD,
                &path,
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::NO_MAGICLINKS,
            ),
            e => Err(e),
        })
        .map_err(|e| match (e, &script) {
            (rustix::io::Errno::LOOP, _) => ExecError::MagicLink(shown.clone()),
            (rustix::io::Errno::NOENT, Some(script)) => missing_interpreter(script, &shown),
            (e, _) => file_error(&shown, e.into()),
        })?;
        let st = rustix::fs::fstat(&fd).map_err(|e| file_error(&shown, e.into()))?;
        if berth == Some((st.st_dev, st.st_ino)) {
            return Err(ExecError::OwnBinary(shown));
        }
        let mut head = [0u8; HEAD];
        let n = std::fs::File::from(fd.try_clone().map_err(|e| file_error(&shown, e))?)
            .read(&mut head)
            .unwrap_or(0);
        let head = &head[..n];
        let Some(line) = head.strip_prefix(b"#!") else {
            let kind = match crate::process::elf::Elf::parse(head) {
                _ if n == 0 => Kind::Unread,
                Some(e) => Kind::Elf {
                    file: shown,
                    machine: e.machine,
                    interp: e.interp_in(head),
                },
                None => Kind::Other(shown),
            };
            return Ok((fd, argv, kind));
        };
        // "#!interpreter [one argument]", as binfmt_script reads it: the
        // line's first 256 bytes, cut at spaces and tabs only (a CR stays
        // part of the name, as the kernel keeps it).
        let line = &line[..line.len().min(254)];
        let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
        let text = String::from_utf8_lossy(line);
        let mut parts = text.trim_matches([' ', '\t']).splitn(2, [' ', '\t']);
        let interp = parts.next().unwrap_or("").to_string();
        if interp.is_empty() {
            return Err(ExecError::NoInterpreter(shown));
        }
        let mut next = vec![interp.clone()];
        if let Some(arg) = parts
            .next()
            .map(|a| a.trim_matches([' ', '\t']))
            .filter(|a| !a.is_empty())
        {
            next.push(arg.to_string());
        }
        script = Some(shown.clone());
        next.push(shown);
        next.extend(argv.into_iter().skip(1));
        argv = next;
        path = PathBuf::from(interp);
    }
    Err(ExecError::TooManyInterpreters(args[0].clone()))
}

/// A #! interpreter that is not there: most often a CRLF line end, which
/// the kernel takes as part of its name.
fn missing_interpreter(script: &str, interp: &str) -> ExecError {
    let why = match interp.strip_suffix('\r') {
        Some(name) => format!(
            "its #! line ends in a carriage return (CRLF line ends): the interpreter is looked for as \"{name}\\r\""
        ),
        None => format!("it is the #! interpreter of {script}, and it is not in the container"),
    };
    ExecError::Explained {
        path: interp.trim_end_matches('\r').to_string(),
        source: io::Error::from_raw_os_error(libc::ENOENT),
        why,
    }
}

fn file_error(path: &str, source: io::Error) -> ExecError {
    ExecError::File {
        path: path.into(),
        source,
    }
}

fn cstrings(items: &[String]) -> Result<Vec<CString>, ExecError> {
    items
        .iter()
        .map(|s| CString::new(s.as_bytes()).map_err(|_| ExecError::Nul))
        .collect()
}

/// Execs the program; returns only on failure, with runc's wording.
pub fn exec(x: &Executable, env: &[String]) -> ExecError {
    // x.env is what apply prepared; `env` is it with LISTEN_PID filled in.
    let (fd, argv, path) = (&x.fd, &x.argv, &x.path);
    let (argv_c, envp_c) = match (cstrings(argv), cstrings(env)) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let e = crate::syscall::execveat(fd.as_fd(), &argv_c, &envp_c);
    let path = path.display().to_string();
    match why_not(x, e.raw_os_error()) {
        Some(why) => ExecError::Explained {
            path,
            source: e,
            why,
        },
        None => file_error(&path, e),
    }
}

/// Why the kernel refused a file berth opened and read: from what berth
/// saw of it, and for EACCES the mount it is on.
fn why_not(x: &Executable, errno: Option<i32>) -> Option<String> {
    use crate::process::elf::{host_machine, machine_name, runs_on};
    match (errno?, &x.kind) {
        (libc::ENOENT, Kind::Elf { file, interp, .. }) => Some(format!(
            "{}its ELF interpreter {} is not in the container: a dynamically linked program needs its loader and libraries",
            of_script(x, file),
            interp.as_ref()?.display()
        )),
        (libc::ENOEXEC, Kind::Elf { file, machine, .. }) if !runs_on(*machine, host_machine()) => {
            Some(format!(
                "{}it is an ELF for {} (machine {machine}), and this machine runs {}",
                of_script(x, file),
                machine_name(*machine),
                machine_name(host_machine())
            ))
        }
        (libc::ENOEXEC, Kind::Other(file)) => Some(format!(
            "{}it is neither an ELF executable nor a #! script",
            of_script(x, file)
        )),
        (libc::EACCES, kind) => {
            let vfs = rustix::fs::fstatvfs(&x.fd).ok()?;
            let noexec = vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::NOEXEC);
            let file = match kind {
                Kind::Elf { file, .. } | Kind::Other(file) => of_script(x, file),
                Kind::Unread => String::new(),
            };
            noexec.then(|| format!("{file}it is on a noexec mount"))
        }
        _ => None,
    }
}

/// "the interpreter X of the script: " when what failed is not the
/// program itself.
fn of_script(x: &Executable, file: &str) -> String {
    match x.path.to_string_lossy() == file {
        true => String::new(),
        false => format!("{file}, the interpreter of its #! line: "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_on_path() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        assert!(find("sh", &env).unwrap().ends_with("sh"));
        let e = find("no-such-program-x", &env).unwrap_err();
        assert_eq!(
            e.to_string(),
            "exec: \"no-such-program-x\": executable file not found in $PATH"
        );
        assert_eq!(e.errno(), Some(libc::ENOENT));
        let e = find("/no/such", &env).unwrap_err();
        assert_eq!(
            e.to_string(),
            "exec: \"/no/such\": stat /no/such: no such file or directory"
        );
        assert_eq!(e.errno(), Some(libc::ENOENT));
    }

    #[test]
    fn scripts_are_resolved_to_their_interpreter() {
        let d = tempfile::tempdir().unwrap();
        let script = d.path().join("s");
        std::fs::write(&script, "#!/bin/sh -e\necho hi\n").unwrap();
        let (_, argv, _) = resolve(&script, &["s".into(), "a".into()], None).unwrap();
        assert_eq!(argv, ["/bin/sh", "-e", script.to_str().unwrap(), "a"]);
    }

    /// Each reason a program cannot run, in the words clients parse first.
    #[test]
    fn a_failed_exec_says_why() {
        let d = tempfile::tempdir().unwrap();
        let args = |p: &Path| vec![p.display().to_string()];
        let prepare = |p: &Path| super::prepare(p, &args(p), vec![], None);

        let crlf = d.path().join("crlf");
        std::fs::write(&crlf, "#!/bin/sh\r\necho hi\r\n").unwrap();
        let e = prepare(&crlf).err().unwrap().to_string();
        assert_eq!(
            e,
            "exec /bin/sh: no such file or directory: its #! line ends in a carriage return (CRLF line ends): the interpreter is looked for as \"/bin/sh\\r\""
        );

        let script = d.path().join("py");
        std::fs::write(&script, "#!/no/python3 -u\n").unwrap();
        let e = prepare(&script).err().unwrap();
        assert_eq!(e.errno(), Some(libc::ENOENT));
        assert_eq!(
            e.to_string(),
            format!(
                "exec /no/python3: no such file or directory: it is the #! interpreter of {}, and it is not in the container",
                script.display()
            )
        );

        // Exec'd for real (the kernel refuses both, so this test process
        // goes on): the kernel's errno, then why.
        // Copied by cp, not written by this process: a write fd of ours,
        // inherited for a moment by a child another test thread forks,
        // would make the exec fail with ETXTBSY.
        let install = |name: &str, bytes: &[u8]| {
            let (src, dst) = (d.path().join(format!("{name}.src")), d.path().join(name));
            std::fs::write(&src, bytes).unwrap();
            let cp = std::process::Command::new("cp")
                .arg(&src)
                .arg(&dst)
                .status();
            assert!(cp.unwrap().success());
            std::fs::set_permissions(&dst, PermissionsExt::from_mode(0o755)).unwrap();
            dst
        };
        let junk = install("junk", b"just text\n");
        let mut aarch64 = std::fs::read("/bin/busybox").unwrap();
        aarch64[18..20].copy_from_slice(&183u16.to_le_bytes());
        let arm = install("arm", &aarch64);
        for (file, want) in [
            (
                &junk,
                "exec format error: it is neither an ELF executable nor a #! script",
            ),
            (
                &arm,
                "exec format error: it is an ELF for aarch64 (machine 183), and this machine runs x86_64",
            ),
        ] {
            let x = prepare(file).unwrap();
            let e = exec(&x, &[]).to_string();
            assert_eq!(e, format!("exec {}: {want}", file.display()));
        }
    }

    #[test]
    fn berth_itself_and_magic_links_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("evil");
        std::os::unix::fs::symlink("/proc/self/exe", &link).unwrap();
        let e = resolve(&link, &["evil".into()], None).unwrap_err();
        assert!(matches!(e, ExecError::MagicLink(_)), "{e}");
        let script = d.path().join("evil.sh");
        std::fs::write(&script, "#!/proc/self/exe\n").unwrap();
        let e = resolve(&script, &["evil.sh".into()], None).unwrap_err();
        assert!(e.to_string().contains("magic link"), "{e}");
        let me = std::env::current_exe().unwrap();
        let e = resolve(&me, &["x".into()], own_binary()).unwrap_err();
        assert!(matches!(e, ExecError::OwnBinary(_)), "{e}");
    }
}
