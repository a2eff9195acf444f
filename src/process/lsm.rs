//! AppArmor and SELinux labels, as runc 1.1.5 handles them: a profile or
//! process label on a host without that LSM is an error (the confinement
//! asked for would not apply). linux.mountLabel there is ignored: runc
//! passes it on as a context= option that every mount then refuses.

use crate::config::ConfigError;
use crate::error::{SysContext, SysError};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::os::fd::BorrowedFd;
use std::path::Path;

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
        && Path::new("/sys/kernel/security/apparmor").exists()
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// The profile to apply, checked against the host.
pub fn apparmor(profile: Option<&str>) -> Result<Option<String>, ConfigError> {
    checked(
        profile,
        apparmor_enabled,
        "process.apparmorProfile",
        "AppArmor",
        "profile",
    )
}

/// The process's label, checked against the host.
pub fn selinux(label: Option<&str>) -> Result<Option<String>, ConfigError> {
    checked(
        label,
        selinux_enabled,
        "process.selinuxLabel",
        "SELinux",
        "label",
    )
}

/// A non-empty `value` at `path`, refused where the host lacks `lsm`.
fn checked(
    value: Option<&str>,
    enabled: fn() -> bool,
    path: &str,
    lsm: &str,
    what: &str,
) -> Result<Option<String>, ConfigError> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(_) if !enabled() => Err(ConfigError::invalid(
            path,
            format!("{lsm} is not enabled on this host: the {what} cannot be applied"),
        )),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// linux.mountLabel, or None on a host without SELinux.
pub fn mount_label(label: Option<&str>) -> Option<String> {
    let label = label.filter(|l| !l.is_empty())?;
    if selinux_enabled() {
        Some(label.to_string())
    } else {
        crate::logging::debug(&format!(
            "SELinux is not enabled on this host: linux.mountLabel {label} is ignored"
        ));
        None
    }
}

/// Applies the profile and label to the next exec of this process,
/// through `proc` (a procfs instance mounted nowhere, so no mount the
/// container makes can redirect the write, CVE-2025-52881) when there is
/// one; else through /proc, checked to be procfs.
pub fn apply_on_exec(
    apparmor: Option<&str>,
    selinux: Option<&str>,
    proc: Option<BorrowedFd>,
) -> Result<(), SysError> {
    if let Some(p) = apparmor {
        write_attr(
            proc,
            &["attr/apparmor/exec", "attr/exec"],
            &format!("exec {p}"),
        )?;
    }
    if let Some(l) = selinux {
        write_attr(proc, &["attr/exec"], l)?;
    }
    Ok(())
}

fn write_attr(proc: Option<BorrowedFd>, candidates: &[&str], value: &str) -> Result<(), SysError> {
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    let mut last = None;
    for rel in candidates {
        let opened = match proc {
            Some(p) => rustix::fs::openat2(
                p,
                format!("{pid}/{rel}").as_str(),
                OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV,
            ),
            None => rustix::fs::open(
                format!("/proc/self/{rel}").as_str(),
                OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::empty(),
            ),
        };
        match opened {
            Ok(fd) => {
                let fs = rustix::fs::fstatfs(&fd).sys("statfs", rel)?;
                if fs.f_type != rustix::fs::PROC_SUPER_MAGIC {
                    return Err(SysError::new(
                        "write",
                        rel,
                        std::io::Error::other("not on procfs"),
                    ));
                }
                return rustix::io::write(&fd, value.as_bytes())
                    .map(|_| ())
                    .sys("write", rel);
            }
            Err(e) => last = Some(SysError::new("open", rel, e)),
        }
    }
    Err(last.expect("at least one candidate"))
}
