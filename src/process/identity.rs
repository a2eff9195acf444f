//! Who the process becomes, in the one order that works, through the
//! Syscall seam (so the order is unit-tested without root):
//!
//! 1. a seccomp filter that must go in early: one with notify rules (its
//!    listener must reach berth before berth's own later calls could be
//!    held), or one the process could not install once it has neither
//!    no_new_privs nor CAP_SYS_ADMIN;
//! 2. the bounding set (dropping needs CAP_SETPCAP, still held);
//! 3. what must still be done as root (stdio's owner);
//! 4. groups, gid, uid, with PR_SET_KEEPCAPS so the uid change keeps the
//!    capability sets;
//! 5. effective, permitted and inheritable, then ambient;
//! 6. no_new_privs.
//!
//! A filter that need not go in early goes in last (`seccomp_late`), just
//! before the startContainer hooks and the exec.

use super::{ProcessError, ProcessPlan, capabilities, user};
use crate::error::{SysContext, SysError};
use crate::syscall::{SeccompFilter, Syscall};
use std::os::fd::OwnedFd;

impl ProcessPlan {
    pub(super) fn take_identity(
        &self,
        sys: &impl Syscall,
        seccomp: Option<&SeccompFilter>,
        hand_over: impl FnOnce(OwnedFd) -> Result<(), SysError>,
        as_root: impl FnOnce() -> Result<(), ProcessError>,
    ) -> Result<(), ProcessError> {
        if let Some(f) = seccomp.filter(|f| self.seccomp_early(f))
            && let Some(listener) = sys.install_seccomp(f)?
        {
            hand_over(listener)?;
        }
        if let Some(c) = &self.caps {
            capabilities::drop_bounding(sys, c)?;
        }
        as_root()?;
        let keep = |on: bool| sys.set_keep_caps(on).sys("set", "keepcaps");
        keep(true)?;
        user::set_user(sys, &self.user)?;
        keep(false)?;
        if let Some(c) = &self.caps {
            capabilities::apply(sys, c)?;
        }
        if self.no_new_privileges {
            sys.set_no_new_privs().sys("set", "no_new_privs")?;
        }
        Ok(())
    }

    pub(super) fn seccomp_early(&self, f: &SeccompFilter) -> bool {
        f.notify() || self.seccomp_before_identity()
    }

    /// The filter, if `apply` did not install it.
    pub(super) fn install_late(
        &self,
        sys: &impl Syscall,
        seccomp: Option<&SeccompFilter>,
    ) -> Result<(), SysError> {
        match seccomp.filter(|f| !self.seccomp_early(f)) {
            Some(f) => sys.install_seccomp(f).map(|_| ()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::capabilities::{CapSets, last_cap};
    use super::super::user::User;
    use super::*;
    use crate::syscall::seam::Recorder;
    use rustix::io::Errno;

    const CAP_KILL: u32 = 5;
    const CAP_SYS_ADMIN: u32 = 21;

    fn plan(uid: u32, caps: Option<&[u32]>, nnp: bool) -> ProcessPlan {
        let set = |l: &[u32]| l.iter().fold(0u64, |m, c| m | 1 << c);
        ProcessPlan {
            user: User {
                uid,
                gid: uid,
                additional_gids: vec![],
                umask: None,
            },
            caps: caps.map(|l| CapSets {
                bounding: set(l),
                effective: set(l),
                permitted: set(l),
                inheritable: 0,
                ambient: set(l),
            }),
            no_new_privileges: nnp,
            ..Default::default()
        }
    }

    fn filter(notify: bool) -> SeccompFilter {
        SeccompFilter {
            bpf: vec![],
            flags: if notify {
                crate::syscall::SECCOMP_FILTER_FLAG_NEW_LISTENER
            } else {
                0
            },
        }
    }

    /// Runs take_identity and install_late as apply and exec do; the
    /// stdio step and the hand-over show in the calls too.
    fn run(p: &ProcessPlan, sys: &Recorder, f: Option<&SeccompFilter>) -> Result<(), String> {
        let hand_over = |_fd| {
            sys.calls.borrow_mut().push("hand_over".into());
            Ok(())
        };
        let as_root = || {
            sys.calls.borrow_mut().push("chown_stdio".into());
            Ok(())
        };
        p.take_identity(sys, f, hand_over, as_root)
            .map_err(|e| e.to_string())?;
        p.install_late(sys, f).map_err(|e| e.to_string())
    }

    fn dropped(keep: &[u32]) -> Vec<String> {
        (0..=last_cap())
            .filter(|c| !keep.contains(c))
            .map(|c| format!("drop_bounding {c}"))
            .collect()
    }

    #[test]
    fn a_user_with_capabilities_keeps_them_across_the_uid_change() {
        let sys = Recorder::default();
        run(
            &plan(1000, Some(&[CAP_KILL]), true),
            &sys,
            Some(&filter(false)),
        )
        .unwrap();
        let mut want = dropped(&[CAP_KILL]);
        want.extend(
            [
                "chown_stdio",
                "set_keep_caps true",
                "set_groups []",
                "set_gid 1000",
                "set_uid 1000",
                "set_keep_caps false",
                "set_caps e=0x20 p=0x20 i=0x0",
                "clear_ambient",
                "raise_ambient 5",
                "set_no_new_privs",
                // no_new_privs lets the filter go in last.
                "install_seccomp notify=false",
            ]
            .map(String::from),
        );
        assert_eq!(sys.calls(), want);
    }

    #[test]
    fn without_no_new_privs_or_sys_admin_the_filter_goes_in_first() {
        let sys = Recorder::default();
        run(
            &plan(1000, Some(&[CAP_KILL]), false),
            &sys,
            Some(&filter(false)),
        )
        .unwrap();
        assert_eq!(sys.calls()[0], "install_seccomp notify=false");
        assert_eq!(
            sys.calls()
                .iter()
                .filter(|c| c.starts_with("install"))
                .count(),
            1
        );
        // With CAP_SYS_ADMIN kept, it can wait until last.
        let sys = Recorder::default();
        let p = plan(0, Some(&[CAP_SYS_ADMIN]), false);
        run(&p, &sys, Some(&filter(false))).unwrap();
        assert_eq!(sys.calls().last().unwrap(), "install_seccomp notify=false");
    }

    #[test]
    fn a_notify_filter_goes_in_first_and_its_listener_to_berth_at_once() {
        let sys = Recorder::default();
        run(&plan(0, None, true), &sys, Some(&filter(true))).unwrap();
        assert_eq!(
            sys.calls()[..2],
            ["install_seccomp notify=true", "hand_over"]
        );
        // Capabilities left as they are: no bounding or capability calls.
        assert!(
            !sys.calls()
                .iter()
                .any(|c| c.contains("caps e=") || c.starts_with("drop"))
        );
    }

    #[test]
    fn an_empty_group_list_refused_in_a_user_namespace_is_no_error() {
        let sys = Recorder::default().fail("set_groups", Errno::PERM);
        run(&plan(0, None, false), &sys, None).unwrap();
        assert!(sys.calls().contains(&"set_uid 0".to_string()));
        // A list that was asked for is.
        let sys = Recorder::default().fail("set_groups", Errno::PERM);
        let mut p = plan(0, None, false);
        p.user.additional_gids = vec![10];
        let e = run(&p, &sys, None).unwrap_err();
        assert!(e.contains("setgroups [10]"), "{e}");
        assert!(!sys.calls().iter().any(|c| c.starts_with("set_gid")));
    }

    #[test]
    fn a_refused_uid_stops_everything_after_it() {
        let sys = Recorder::default().fail("set_uid", Errno::INVAL);
        let e = run(&plan(1000, Some(&[CAP_KILL]), true), &sys, None).unwrap_err();
        assert!(e.contains("setuid 1000"), "{e}");
        assert_eq!(sys.calls().last().unwrap(), "set_uid 1000");
    }

    #[test]
    fn an_ambient_capability_the_kernel_refuses_is_only_logged() {
        let sys = Recorder::default().fail("raise_ambient", Errno::PERM);
        run(&plan(1000, Some(&[CAP_KILL]), true), &sys, None).unwrap();
        assert_eq!(sys.calls().last().unwrap(), "set_no_new_privs");
    }
}
