//! process.rlimits, set on the container process before it execs.

use crate::error::{SysContext, SysError};
use oci_spec::runtime::PosixRlimitType as R;

#[derive(Debug, Clone)]
pub struct Rlimit {
    pub name: &'static str,
    pub resource: i32,
    pub soft: u64,
    pub hard: u64,
}

pub fn from_spec(t: R, soft: u64, hard: u64) -> Rlimit {
    let (name, r) = match t {
        R::RlimitCpu => ("RLIMIT_CPU", libc::RLIMIT_CPU),
        R::RlimitFsize => ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
        R::RlimitData => ("RLIMIT_DATA", libc::RLIMIT_DATA),
        R::RlimitStack => ("RLIMIT_STACK", libc::RLIMIT_STACK),
        R::RlimitCore => ("RLIMIT_CORE", libc::RLIMIT_CORE),
        R::RlimitRss => ("RLIMIT_RSS", libc::RLIMIT_RSS),
        R::RlimitNproc => ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
        R::RlimitNofile => ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        R::RlimitMemlock => ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
        R::RlimitAs => ("RLIMIT_AS", libc::RLIMIT_AS),
        R::RlimitLocks => ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
        R::RlimitSigpending => ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
        R::RlimitMsgqueue => ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
        R::RlimitNice => ("RLIMIT_NICE", libc::RLIMIT_NICE),
        R::RlimitRtprio => ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
        R::RlimitRttime => ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
    };
    Rlimit {
        name,
        resource: r as i32,
        soft,
        hard,
    }
}

pub fn apply(limits: &[Rlimit]) -> Result<(), SysError> {
    for l in limits {
        crate::syscall::set_rlimit(l.resource as u32, l.soft, l.hard).sys(
            "setrlimit",
            format!("{} to soft {} hard {}", l.name, l.soft, l.hard),
        )?;
    }
    Ok(())
}
