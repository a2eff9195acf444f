//! Rootless berth: what changes when berth runs without the host's root,
//! decided as runc 1.1.5 decides it (rootless_linux.go, main.go), so that a
//! client that drives both sees the same thing.

use crate::error::SysError;
use std::path::{Path, PathBuf};

/// The state root of a root berth, and of a rootless one without
/// XDG_RUNTIME_DIR.
pub const SYSTEM_ROOT: &str = "/run/berth";

/// Rootless as runc means it: the effective uid is not 0, or berth runs in
/// a user namespace that is not the initial one (rootless podman runs the
/// runtime as uid 0 of a namespace of its own), where the host's root
/// powers are not berth's either.
pub fn rootless() -> bool {
    rustix::process::geteuid().as_raw() != 0 || in_user_namespace()
}

/// Whether /proc/self/uid_map is anything but the initial namespace's
/// identity map of every id ("0 0 4294967295"). A kernel without user
/// namespaces has no such file: that is the initial namespace.
pub fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| !is_identity_map(&m))
}

fn is_identity_map(text: &str) -> bool {
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|f: &Vec<&str>| !f.is_empty())
        .collect();
    matches!(lines.as_slice(), [f] if f.as_slice() == ["0", "0", "4294967295"])
}

/// The state root when --root is not given, and whether it is the one in
/// XDG_RUNTIME_DIR (which `prepare_xdg_root` makes). runc honours
/// XDG_RUNTIME_DIR when it is set and non-empty and the caller is rootless,
/// except uid 0 in a user namespace whose USER is root (a root that only
/// looks rootless); everyone else, including a rootless caller with no
/// XDG_RUNTIME_DIR, gets the system's directory (and an error there if it
/// cannot write it, see `unwritable_root`).
pub fn default_root() -> (PathBuf, bool) {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    match xdg {
        Some(dir) if honour_xdg(std::env::var_os("USER").as_deref()) => {
            (Path::new(&dir).join("berth"), true)
        }
        _ => (SYSTEM_ROOT.into(), false),
    }
}

fn honour_xdg(user: Option<&std::ffi::OsStr>) -> bool {
    if rustix::process::geteuid().as_raw() != 0 {
        return true;
    }
    in_user_namespace() && user.is_none_or(|u| u != "root")
}

/// Makes $XDG_RUNTIME_DIR/berth, 0700 and sticky: the XDG base directory
/// specification prunes files there that lack the sticky bit (runc does
/// the same for its own directory, on every command).
pub fn prepare_xdg_root(root: &Path) -> Result<(), SysError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let why = |op, e| {
        SysError::new(
            op,
            format!(
                "{} (the state directory in $XDG_RUNTIME_DIR, which must be writable by uid {}; or give --root)",
                root.display(),
                rustix::process::geteuid().as_raw()
            ),
            e,
        )
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| why("create", e))?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o1700))
        .map_err(|e| why("chmod", e))
}

/// The error for a state root berth may not write: it names the directory
/// and, for a rootless caller, where its state could go instead.
pub fn unwritable_root(root: &Path, e: std::io::Error) -> SysError {
    let what = if rootless() {
        format!(
            "{}: the state directory is not writable by uid {} (rootless: set XDG_RUNTIME_DIR or give --root a directory of your own)",
            root.display(),
            rustix::process::geteuid().as_raw()
        )
    } else {
        format!("{}: the state directory is not writable", root.display())
    };
    SysError::new("create", what, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_map_is_the_initial_namespace() {
        assert!(is_identity_map("         0          0 4294967295\n"));
        assert!(!is_identity_map("         0       1001          1\n"));
        assert!(!is_identity_map("0 0 4294967294\n"));
        assert!(!is_identity_map("0 1001 1\n1 100000 65536\n"));
        assert!(!is_identity_map(""));
    }
}
