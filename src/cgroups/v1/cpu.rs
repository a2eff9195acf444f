//! v1 cpu and cpuset: shares, CFS quota/period/burst, realtime
//! runtime/period, idle; cpus and mems.

use crate::cgroups::write::{Write, w};
use oci_spec::runtime::LinuxResources;

const P: &str = "linux.resources.cpu";

pub fn writes(r: &LinuxResources, out: &mut Vec<Write>) {
    let Some(c) = r.cpu() else { return };
    if let Some(v) = c.shares().filter(|v| *v != 0) {
        out.push(w(format!("{P}.shares"), "cpu", "cpu.shares", v));
    }
    // The period first: a quota is checked against the period in force.
    if let Some(v) = c.period().filter(|v| *v != 0) {
        out.push(w(format!("{P}.period"), "cpu", "cpu.cfs_period_us", v));
    }
    if let Some(v) = c.quota().filter(|v| *v != 0) {
        out.push(w(format!("{P}.quota"), "cpu", "cpu.cfs_quota_us", v));
    }
    if let Some(v) = c.burst().filter(|v| *v != 0) {
        out.push(w(format!("{P}.burst"), "cpu", "cpu.cfs_burst_us", v));
    }
    if let Some(v) = c.realtime_period().filter(|v| *v != 0) {
        out.push(w(
            format!("{P}.realtimePeriod"),
            "cpu",
            "cpu.rt_period_us",
            v,
        ));
    }
    if let Some(v) = c.realtime_runtime().filter(|v| *v != 0) {
        out.push(w(
            format!("{P}.realtimeRuntime"),
            "cpu",
            "cpu.rt_runtime_us",
            v,
        ));
    }
    if let Some(v) = c.idle() {
        out.push(w(format!("{P}.idle"), "cpu", "cpu.idle", v));
    }
    if let Some(v) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
        out.push(w(format!("{P}.cpus"), "cpuset", "cpuset.cpus", v));
    }
    if let Some(v) = c.mems().as_ref().filter(|s| !s.is_empty()) {
        out.push(w(format!("{P}.mems"), "cpuset", "cpuset.mems", v));
    }
}
