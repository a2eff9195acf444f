//! The user's program: found on the container's PATH (once the root is the
//! container's) and exec'd with exactly the config's argv and environment.

use crate::error::errno_text;
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Resolves args[0] as Go's exec.LookPath does, with runc's wording: the
/// texts "executable file not found" and "no such file or directory" are
/// what clients turn into exit status 127.
pub fn find(program: &str, env: &[String]) -> Result<PathBuf, String> {
    if program.contains('/') {
        return match std::fs::metadata(program) {
            Ok(m) if m.is_dir() => Err(format!("exec: \"{program}\": is a directory")),
            Ok(m) if m.permissions().mode() & 0o111 == 0 => Err(format!("exec: \"{program}\": permission denied")),
            Ok(_) => Ok(PathBuf::from(program)),
            Err(e) => Err(format!("exec: \"{program}\": stat {program}: {}", errno_text(&e))),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(program);
        if let Ok(m) = std::fs::metadata(&candidate) {
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(format!("exec: \"{program}\": executable file not found in $PATH"))
}

fn cstrings<'a>(items: impl Iterator<Item = &'a [u8]>) -> Result<Vec<CString>, String> {
    items.map(|s| CString::new(s).map_err(|_| "argument or environment holds a NUL byte".to_string())).collect()
}

/// Execs the program; returns only on failure, with runc's wording.
pub fn exec(path: &Path, args: &[String], env: &[String]) -> String {
    let prog = match CString::new(path.as_os_str().as_bytes()) {
        Ok(p) => p,
        Err(_) => return "program path holds a NUL byte".into(),
    };
    let argv = match cstrings(args.iter().map(|a| a.as_bytes())) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let envp = match cstrings(env.iter().map(|a| OsStr::new(a).as_bytes())) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    // SAFETY: NUL-terminated arrays of pointers into CStrings that outlive the call.
    unsafe { libc::execve(prog.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr()) };
    let e = std::io::Error::last_os_error();
    format!("exec {}: {}", path.display(), errno_text(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_on_path() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        assert!(find("sh", &env).unwrap().ends_with("sh"));
        assert_eq!(
            find("no-such-program-x", &env).unwrap_err(),
            "exec: \"no-such-program-x\": executable file not found in $PATH"
        );
        assert_eq!(find("/no/such", &env).unwrap_err(), "exec: \"/no/such\": stat /no/such: no such file or directory");
    }
}
