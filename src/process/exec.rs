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
            ExecError::Stat { source, .. } | ExecError::File { source, .. } => {
                source.raw_os_error()
            }
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
}

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
    let (fd, argv) = resolve(path, args, berth)?;
    Ok(Executable {
        fd,
        argv,
        path: path.to_path_buf(),
        env,
    })
}

fn resolve(
    path: &Path,
    args: &[String],
    berth: Option<(u64, u64)>,
) -> Result<(OwnedFd, Vec<String>), ExecError> {
    let mut path = path.to_path_buf();
    let mut argv: Vec<String> = args.to_vec();
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
        .map_err(|e| match e {
            rustix::io::Errno::LOOP => ExecError::MagicLink(shown.clone()),
            e => file_error(&shown, e.into()),
        })?;
        let st = rustix::fs::fstat(&fd).map_err(|e| file_error(&shown, e.into()))?;
        if berth == Some((st.st_dev, st.st_ino)) {
            return Err(ExecError::OwnBinary(shown));
        }
        let mut head = [0u8; 256];
        let n = std::fs::File::from(fd.try_clone().map_err(|e| file_error(&shown, e))?)
            .read(&mut head)
            .unwrap_or(0);
        let Some(line) = head[..n].strip_prefix(b"#!") else {
            return Ok((fd, argv));
        };
        // "#!interpreter [one argument]", as binfmt_script reads it.
        let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
        let text = String::from_utf8_lossy(line);
        let mut parts = text.trim().splitn(2, [' ', '\t']);
        let interp = parts.next().unwrap_or("").to_string();
        if interp.is_empty() {
            return Err(ExecError::NoInterpreter(shown));
        }
        let mut next = vec![interp.clone()];
        if let Some(arg) = parts.next().map(str::trim).filter(|a| !a.is_empty()) {
            next.push(arg.to_string());
        }
        next.push(shown);
        next.extend(argv.into_iter().skip(1));
        argv = next;
        path = PathBuf::from(interp);
    }
    Err(ExecError::TooManyInterpreters(args[0].clone()))
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
    file_error(&path.display().to_string(), e)
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
        let (_, argv) = resolve(&script, &["s".into(), "a".into()], None).unwrap();
        assert_eq!(argv, ["/bin/sh", "-e", script.to_str().unwrap(), "a"]);
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
