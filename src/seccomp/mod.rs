//! linux.seccomp, compiled to BPF by libseccomp in berth's process before
//! the clone (so every error is reported with nothing to undo), and
//! installed by the container process with seccomp(2) just before exec.
//!
//! SCMP_ACT_NOTIFY: the filter is installed with a listener fd, which the
//! container process hands to berth and berth sends, with the container's
//! state, to linux.seccomp.listenerPath (notify.rs).
//!
//! Why libseccomp and not seccompiler: the spec's profiles mix actions per
//! rule, name syscalls for several architectures at once (x86_64 with x86
//! and x32) and may ask for SCMP_ACT_NOTIFY; libseccomp does all three and
//! carries the syscall tables of every arch, seccompiler does none of it.

use crate::config::ConfigError;
use crate::syscall::{SECCOMP_FILTER_FLAG_NEW_LISTENER, SeccompFilter};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompFilterFlag as F,
    LinuxSeccompOperator as Op, LinuxSyscall,
};
use std::io::{Read, Seek};

const SECCOMP_FILTER_FLAG_LOG: u32 = 1 << 1;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u32 = 1 << 2;
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// The system call that hands the listener over (container/sync.rs).
const HAND_OVER: &str = "sendmsg";

mod enosys;
mod notify;
pub use notify::send_to_listener;

/// A compiled filter (installed by the container process through
/// syscall::install_seccomp) and where a notify filter's listener goes.
#[derive(Debug, Clone)]
pub struct Program {
    pub filter: SeccompFilter,
    /// With SCMP_ACT_NOTIFY rules: where the listener fd goes, and the
    /// metadata sent with it.
    pub listener: Option<(std::path::PathBuf, String)>,
}

impl Program {
    pub fn notify(&self) -> bool {
        self.listener.is_some()
    }
}

fn action(a: A, errno: Option<u32>, default_errno: Option<u32>) -> ScmpAction {
    match a {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => {
            ScmpAction::Errno(errno.or(default_errno).unwrap_or(libc::EPERM as u32) as i32)
        }
        A::ScmpActTrace => {
            ScmpAction::Trace(errno.or(default_errno).unwrap_or(libc::EPERM as u32) as u16)
        }
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActNotify => ScmpAction::Notify,
    }
}

fn arch(a: Arch) -> Option<ScmpArch> {
    Some(match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        _ => return None,
    })
}

fn compare(op: Op, index: usize, value: u64, value_two: Option<u64>) -> ScmpArgCompare {
    let i = index as u32;
    match op {
        Op::ScmpCmpNe => ScmpArgCompare::new(i, ScmpCompareOp::NotEqual, value),
        Op::ScmpCmpLt => ScmpArgCompare::new(i, ScmpCompareOp::Less, value),
        Op::ScmpCmpLe => ScmpArgCompare::new(i, ScmpCompareOp::LessOrEqual, value),
        Op::ScmpCmpEq => ScmpArgCompare::new(i, ScmpCompareOp::Equal, value),
        Op::ScmpCmpGe => ScmpArgCompare::new(i, ScmpCompareOp::GreaterEqual, value),
        Op::ScmpCmpGt => ScmpArgCompare::new(i, ScmpCompareOp::Greater, value),
        // As runc reads it: value is the mask, valueTwo the value.
        Op::ScmpCmpMaskedEq => {
            ScmpArgCompare::new(i, ScmpCompareOp::MaskedEqual(value), value_two.unwrap_or(0))
        }
    }
}

pub fn compile(s: &LinuxSeccomp) -> Result<Program, ConfigError> {
    let p = "linux.seccomp";
    let default = action(s.default_action(), None, s.default_errno_ret());
    if default == ScmpAction::Notify {
        return Err(ConfigError::invalid(
            format!("{p}.defaultAction"),
            format!(
                "SCMP_ACT_NOTIFY cannot be the default action: it would hold {HAND_OVER}, which hands the listener over, for an agent that does not have it yet"
            ),
        ));
    }
    let notify = s
        .syscalls()
        .iter()
        .flatten()
        .any(|c| c.action() == A::ScmpActNotify);
    let listener = listener(s, notify)?;
    let mut ctx = context(s, default)?;
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        add_rule(&mut ctx, s, default, sc, format!("{p}.syscalls[{i}]"))?;
    }
    let bpf = export(&ctx)
        .map_err(|e| ConfigError::invalid(p, format!("cannot compile the filter: {e}")))?;
    let bpf = with_enosys_stub(s, bpf);
    // BPF_MAXINSNS
    if bpf.len() > 4096 {
        return Err(ConfigError::invalid(
            p,
            format!(
                "the filter is {} instructions long, more than the kernel's 4096",
                bpf.len()
            ),
        ));
    }
    let mut flags = filter_flags(s, notify);
    if notify {
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    }
    Ok(Program {
        filter: SeccompFilter { bpf, flags },
        listener,
    })
}

/// Where a filter with notify rules sends its listener.
fn listener(
    s: &LinuxSeccomp,
    notify: bool,
) -> Result<Option<(std::path::PathBuf, String)>, ConfigError> {
    let p = "linux.seccomp";
    let listener = match (notify, s.listener_path()) {
        (true, Some(path)) if path.is_absolute() => Some((
            path.clone(),
            s.listener_metadata().clone().unwrap_or_default(),
        )),
        (true, _) => {
            return Err(ConfigError::invalid(
                format!("{p}.listenerPath"),
                "SCMP_ACT_NOTIFY needs an absolute listenerPath",
            ));
        }
        (false, _) => None,
    };
    Ok(listener)
}

fn lib(path: String) -> impl FnOnce(libseccomp::error::SeccompError) -> ConfigError {
    move |e| ConfigError::invalid(path, format!("libseccomp: {e}"))
}

/// libseccomp's context with the default action and the architectures.
fn context(s: &LinuxSeccomp, default: ScmpAction) -> Result<ScmpFilterContext, ConfigError> {
    let p = "linux.seccomp";
    let mut ctx = ScmpFilterContext::new(default).map_err(lib(format!("{p}.defaultAction")))?;
    // The filter goes in by our own seccomp(2) call, flags and all.
    ctx.set_ctl_nnp(false).map_err(lib(p.to_string()))?;
    for (i, a) in s.architectures().iter().flatten().enumerate() {
        let path = format!("{p}.architectures[{i}]");
        let a = arch(*a).ok_or_else(|| {
            ConfigError::invalid(&path, "architecture not supported by libseccomp")
        })?;
        match ctx.add_arch(a) {
            Ok(_) => {}
            Err(e) if e.errno() == Some(libseccomp::error::SeccompErrno::EEXIST) => {}
            Err(e) => return Err(lib(path)(e)),
        }
    }
    Ok(ctx)
}

/// linux.seccomp.flags as seccomp(2) takes them.
fn filter_flags(s: &LinuxSeccomp, notify: bool) -> u32 {
    let mut flags = 0;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            // It changes how a notify agent's receive waits: the kernel takes
            // it only with a listener, and without NOTIFY rules it means nothing.
            F::SeccompFilterFlagWaitKillableRecv if !notify => 0,
            // Thread sync means nothing for a process about to exec.
            F::SeccompFilterFlagTsync => 0,
            f => flag_bits(f),
        };
    }
    flags
}

/// A flag's bit in seccomp(2), with the listener WAIT_KILLABLE_RECV needs
/// beside it (the kernel refuses it alone): what to ask the kernel about.
pub fn flag_bits(f: &F) -> u32 {
    match f {
        F::SeccompFilterFlagLog => SECCOMP_FILTER_FLAG_LOG,
        F::SeccompFilterFlagSpecAllow => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        F::SeccompFilterFlagWaitKillableRecv => {
            SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV | SECCOMP_FILTER_FLAG_NEW_LISTENER
        }
        F::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC as u32,
    }
}

/// One entry of linux.seccomp.syscalls, as rules for each of its names.
fn add_rule(
    ctx: &mut ScmpFilterContext,
    s: &LinuxSeccomp,
    default: ScmpAction,
    sc: &LinuxSyscall,
    path: String,
) -> Result<(), ConfigError> {
    let act = action(sc.action(), sc.errno_ret(), s.default_errno_ret());
    // libseccomp refuses a rule that does what the default does anyway.
    if act == default {
        return Ok(());
    }
    // The listener goes to berth by sendmsg once the filter is in (the
    // one call between the two): a notification of it would wait for
    // an agent that cannot have the listener yet.
    if act == ScmpAction::Notify && sc.names().iter().any(|n| n == HAND_OVER) {
        return Err(ConfigError::invalid(
            format!("{path}.names"),
            format!(
                "SCMP_ACT_NOTIFY on {HAND_OVER} cannot be answered: berth hands the notify listener over with {HAND_OVER} right after the filter is in, before any agent has it"
            ),
        ));
    }
    let args = sc.args().clone().unwrap_or_default();
    let cmps: Vec<ScmpArgCompare> = args
        .iter()
        .map(|a| compare(a.op(), a.index(), a.value(), a.value_two()))
        .collect();
    if args.iter().any(|a| a.index() > 5) {
        return Err(ConfigError::invalid(
            format!("{path}.args"),
            "an argument index must be 0 to 5",
        ));
    }
    // Conditions on distinct arguments must all hold; several on the
    // same argument are alternatives (libseccomp cannot AND those).
    let mut seen = std::collections::HashSet::new();
    let same_arg = !args.iter().all(|a| seen.insert(a.index()));
    for name in sc.names() {
        // A name this kernel's arches do not know is skipped, as runc does.
        let Ok(nr) = ScmpSyscall::from_name(name) else {
            continue;
        };
        let r = if cmps.is_empty() {
            ctx.add_rule(act, nr).map(|_| ())
        } else if same_arg {
            cmps.iter()
                .try_for_each(|c| ctx.add_rule_conditional(act, nr, &[*c]).map(|_| ()))
        } else {
            ctx.add_rule_conditional(act, nr, &cmps).map(|_| ())
        };
        r.map_err(|e| ConfigError::invalid(&path, format!("syscall {name}: libseccomp: {e}")))?;
    }
    Ok(())
}

/// Unless the default lets syscalls through anyway (runc's rule: allow,
/// log, trace), syscalls newer than the profile get ENOSYS: a stub before
/// the filter.
fn with_enosys_stub(s: &LinuxSeccomp, mut bpf: Vec<libc::sock_filter>) -> Vec<libc::sock_filter> {
    if !matches!(
        s.default_action(),
        A::ScmpActAllow | A::ScmpActLog | A::ScmpActTrace
    ) {
        let arches: Vec<ScmpArch> = s
            .architectures()
            .iter()
            .flatten()
            .filter_map(|a| arch(*a))
            .collect();
        let names: Vec<&str> = s
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|c| c.names().iter().map(String::as_str))
            .collect();
        let mut stub = enosys::stub(&arches, &names);
        stub.append(&mut bpf);
        bpf = stub;
    }
    bpf
}

fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, String> {
    let fd = rustix::fs::memfd_create("berth-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| e.to_string())?;
    let mut f = std::fs::File::from(fd);
    ctx.export_bpf(&f).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    f.rewind().map_err(|e| e.to_string())?;
    f.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    let n = size_of::<libc::sock_filter>();
    Ok(bytes
        .chunks_exact(n)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// The libseccomp berth is linked with, as `major.minor.micro` (for
/// `--version`, whose libseccomp line runc prints too).
pub fn library_version() -> String {
    match libseccomp::ScmpVersion::current() {
        Ok(v) => format!("{}.{}.{}", v.major, v.minor, v.micro),
        Err(_) => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_json(json: &str) -> Result<Program, ConfigError> {
        compile(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn a_profile_compiles_and_unknown_names_are_skipped() {
        let p = compile_json(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
                "syscalls":[{"names":["read","write","no_such_syscall_x"],"action":"SCMP_ACT_ALLOW"},
                            {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"},{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
                            {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
        )
        .unwrap();
        assert!(p.filter.bpf.len() > 10);
        assert_eq!(p.filter.flags, 0);
    }

    #[test]
    fn notify_needs_a_listener() {
        let e = compile_json(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.json: linux.seccomp.listenerPath: SCMP_ACT_NOTIFY needs an absolute listenerPath"
        );
        let p = compile_json(r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/l.sock","listenerMetadata":"m","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#).unwrap();
        assert!(p.notify());
        assert_ne!(p.filter.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER, 0);
    }

    #[test]
    fn notify_on_the_hand_over_syscall_is_refused() {
        let e = compile_json(r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/l.sock","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"},{"names":["mkdir","sendmsg"],"action":"SCMP_ACT_NOTIFY"}]}"#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("config.json: linux.seccomp.syscalls[1].names: SCMP_ACT_NOTIFY on sendmsg cannot be answered"),
            "{e}"
        );
        // Any other action on it is fine.
        compile_json(r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/l.sock","syscalls":[{"names":["sendmsg"],"action":"SCMP_ACT_LOG"},{"names":["write"],"action":"SCMP_ACT_NOTIFY"}]}"#).unwrap();
    }

    #[test]
    fn flags() {
        let p = compile_json(r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}"#).unwrap();
        assert_eq!(
            p.filter.flags,
            SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW
        );
    }
}
