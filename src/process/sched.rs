//! Scheduling and execution domain of the process: execCPUAffinity,
//! ioPriority, scheduler (sched_setattr) and linux.personality.

use crate::config::ConfigError;
use crate::error::{SysContext, SysError};
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag as Flag, LinuxSchedulerPolicy as Policy, Scheduler,
};

/// "0-3,6" as a list of cpus.
pub fn parse_cpus(s: &str, path: &str) -> Result<Vec<usize>, ConfigError> {
    match crate::config::parse_list(s, 1024) {
        Some(cpus) if !cpus.is_empty() => Ok(cpus),
        _ => Err(ConfigError::invalid(
            path,
            format!("\"{s}\" is not a cpu list like 0-3,6"),
        )),
    }
}

pub fn set_affinity(cpus: &[usize]) -> Result<(), SysError> {
    let mut set = rustix::thread::CpuSet::new();
    for c in cpus {
        set.set(*c);
    }
    rustix::thread::sched_setaffinity(None, &set).sys("set cpu affinity", format!("{cpus:?}"))
}

/// The ioprio_set(2) value.
pub fn ioprio(p: &LinuxIOPriority) -> Result<u32, ConfigError> {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..=7).contains(&p.priority()) {
        return Err(ConfigError::invalid(
            "process.ioPriority.priority",
            format!("{} is outside 0..7", p.priority()),
        ));
    }
    Ok((class << 13) | p.priority() as u32)
}

pub fn set_ioprio(value: u32) -> Result<(), SysError> {
    crate::syscall::ioprio_set(value).sys("set", "io priority")
}

pub use crate::syscall::SchedAttr;

pub fn sched_attr(s: &Scheduler) -> SchedAttr {
    let policy = match s.policy() {
        Policy::SchedOther => 0,
        Policy::SchedFifo => 1,
        Policy::SchedRr => 2,
        Policy::SchedBatch => 3,
        Policy::SchedIso => 4,
        Policy::SchedIdle => 5,
        Policy::SchedDeadline => 6,
    };
    let flags = s.flags().iter().flatten().fold(0u64, |f, fl| {
        f | match fl {
            Flag::SchedResetOnFork => 0x01,
            Flag::SchedFlagReclaim => 0x02,
            Flag::SchedFlagDLOverrun => 0x04,
            Flag::SchedFlagKeepPolicy => 0x08,
            Flag::SchedFlagKeepParams => 0x10,
            Flag::SchedFlagUtilClampMin => 0x20,
            Flag::SchedFlagUtilClampMax => 0x40,
        }
    });
    SchedAttr {
        size: size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0).max(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
    }
}

pub fn set_scheduler(a: &SchedAttr) -> Result<(), SysError> {
    crate::syscall::sched_setattr(a).sys("set", "scheduler (process.scheduler)")
}

/// The personality(2) value of linux.personality.
pub fn personality(p: &LinuxPersonality) -> Result<u64, ConfigError> {
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(ConfigError::invalid(
            "linux.personality.flags",
            "no personality flags are defined by the spec yet",
        ));
    }
    Ok(match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    })
}

pub fn set_personality(v: u64) -> Result<(), SysError> {
    crate::syscall::set_personality(v).sys("set", "personality")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpus("0-2,5", "x").unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpus("1", "x").unwrap(), vec![1]);
        assert!(parse_cpus("3-1", "x").is_err());
        assert!(parse_cpus("a", "x").is_err());
    }
}
