//! linux.resources on cgroup v2, with runc's conversions from the v1
//! values the spec speaks in: cpu shares to cpu.weight, memory+swap to
//! memory.swap.max, blkio weight to io.bfq.weight or io.weight.

use crate::cgroups::CgroupError;
use crate::cgroups::write::{Write, w};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};
use std::path::Path;

fn refuse(path: &str, msg: &str) -> CgroupError {
    CgroupError::Unsupported {
        path: path.into(),
        msg: msg.into(),
    }
}

fn max_or(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

/// runc's shares (2..262144) to weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        0
    } else {
        1 + (shares.saturating_sub(2) * 9999) / 262142
    }
}

/// blkio weight (10..1000) to io.weight (1..10000).
fn blkio_to_io_weight(weight: u64) -> u64 {
    1 + (weight.saturating_sub(10) * 9999) / 990
}

pub fn writes(r: &LinuxResources, dir: &Path) -> Result<Vec<Write>, CgroupError> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        memory(m, &mut out)?;
    }
    if let Some(c) = r.cpu() {
        cpu(c, &mut out)?;
    }
    if let Some(pids) = r.pids() {
        match pids.limit() {
            0 => {}
            l => out.push(w("linux.resources.pids.limit", "", "pids.max", max_or(l))),
        }
    }
    if let Some(b) = r.block_io() {
        block_io(b, dir, &mut out)?;
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        out.push(w(
            format!("linux.resources.hugepageLimits[{i}]"),
            "",
            format!("hugetlb.{}.max", h.page_size()),
            h.limit(),
        ));
    }
    if r.network().as_ref().is_some_and(|n| {
        n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty())
    }) {
        return Err(refuse(
            "linux.resources.network",
            "cgroup v2 has no net_cls or net_prio controller",
        ));
    }
    for (dev, l) in r.rdma().iter().flatten() {
        let v = crate::cgroups::write::rdma_line(dev, l);
        out.push(w(format!("linux.resources.rdma.{dev}"), "", "rdma.max", v));
    }
    unified(r, &mut out)?;
    Ok(out)
}

/// memory.max, memory.low, memory.swap.max; what only v1 has is refused.
fn memory(m: &LinuxMemory, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    let p = "linux.resources.memory";
    let limit = m.limit().filter(|v| *v != 0);
    if let Some(v) = limit {
        out.push(w(format!("{p}.limit"), "", "memory.max", max_or(v)));
    }
    if let Some(v) = m.reservation().filter(|v| *v != 0) {
        out.push(w(format!("{p}.reservation"), "", "memory.low", max_or(v)));
    }
    if let Some(swap) = m.swap().filter(|v| *v != 0) {
        // v1's swap is memory+swap; v2's is swap alone.
        let value = if swap < 0 {
            "max".to_string()
        } else {
            match limit {
                Some(l) if l > 0 && swap >= l => (swap - l).to_string(),
                Some(l) if l > 0 => {
                    return Err(refuse(
                        &format!("{p}.swap"),
                        "memory+swap must be at least the memory limit",
                    ));
                }
                _ => {
                    return Err(refuse(
                        &format!("{p}.swap"),
                        "a swap limit needs a memory limit on cgroup v2",
                    ));
                }
            }
        };
        out.push(w(format!("{p}.swap"), "", "memory.swap.max", value));
    } else if limit == Some(-1) {
        // No memory limit at all means no swap limit either (runc's
        // reading of v1's memory+swap), where the kernel accounts swap.
        out.push(w(format!("{p}.limit"), "", "memory.swap.max", "max").if_present());
    }
    if m.kernel().is_some_and(|v| v != 0) {
        return Err(refuse(
            &format!("{p}.kernel"),
            "cgroup v2 has no kernel memory limit",
        ));
    }
    if m.kernel_tcp().is_some_and(|v| v != 0) {
        return Err(refuse(
            &format!("{p}.kernelTCP"),
            "cgroup v2 has no kernel TCP memory limit",
        ));
    }
    if m.swappiness().is_some() {
        return Err(refuse(
            &format!("{p}.swappiness"),
            "cgroup v2 has no per-cgroup swappiness",
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(refuse(
            &format!("{p}.disableOOMKiller"),
            "cgroup v2 cannot disable the OOM killer",
        ));
    }
    if m.use_hierarchy() == Some(false) {
        return Err(refuse(
            &format!("{p}.useHierarchy"),
            "cgroup v2 is always hierarchical",
        ));
    }
    Ok(())
}

/// cpu.weight, cpu.max, its burst, cpu.idle, and the cpuset.
fn cpu(c: &LinuxCpu, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    let p = "linux.resources.cpu";
    if let Some(s) = c.shares().filter(|v| *v != 0) {
        out.push(w(
            format!("{p}.shares"),
            "",
            "cpu.weight",
            shares_to_weight(s),
        ));
    }
    let (quota, period) = (
        c.quota().filter(|v| *v != 0),
        c.period().filter(|v| *v != 0),
    );
    if quota.is_some() || period.is_some() {
        let mut v = match quota {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".into(),
        };
        if let Some(per) = period {
            v.push_str(&format!(" {per}"));
        }
        out.push(w(format!("{p}.quota"), "", "cpu.max", v));
    }
    if let Some(b) = c.burst() {
        out.push(w(format!("{p}.burst"), "", "cpu.max.burst", b));
    }
    if let Some(i) = c.idle() {
        out.push(w(format!("{p}.idle"), "", "cpu.idle", i));
    }
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(refuse(
            &format!("{p}.realtimeRuntime"),
            "cgroup v2 has no realtime cpu limits",
        ));
    }
    if let Some(v) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
        out.push(w(format!("{p}.cpus"), "", "cpuset.cpus", v));
    }
    if let Some(v) = c.mems().as_ref().filter(|s| !s.is_empty()) {
        out.push(w(format!("{p}.mems"), "", "cpuset.mems", v));
    }
    Ok(())
}

/// io.bfq.weight where the BFQ scheduler offers it, else io.weight; io.max.
fn block_io(b: &LinuxBlockIo, dir: &Path, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    let p = "linux.resources.blockIO";
    let bfq = dir.join("io.bfq.weight").exists();
    if let Some(v) = b.weight().filter(|v| *v != 0) {
        if bfq {
            out.push(w(format!("{p}.weight"), "", "io.bfq.weight", v));
        } else {
            out.push(w(
                format!("{p}.weight"),
                "",
                "io.weight",
                format!("default {}", blkio_to_io_weight(v as u64)),
            ));
        }
    }
    if b.leaf_weight().is_some_and(|v| v != 0) {
        return Err(refuse(
            &format!("{p}.leafWeight"),
            "cgroup v2 has no leaf weight",
        ));
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if let Some(v) = d.weight() {
            let (file, v) = if bfq {
                ("io.bfq.weight", v as u64)
            } else {
                ("io.weight", blkio_to_io_weight(v as u64))
            };
            out.push(w(
                format!("{p}.weightDevice[{i}]"),
                "",
                file,
                format!("{}:{} {v}", d.major(), d.minor()),
            ));
        }
    }
    let throttles = [
        (
            "throttleReadBpsDevice",
            "rbps",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "wbps",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "riops",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "wiops",
            b.throttle_write_iops_device(),
        ),
    ];
    for (name, key, list) in throttles {
        for (i, d) in list.iter().flatten().enumerate() {
            out.push(w(
                format!("{p}.{name}[{i}]"),
                "",
                "io.max",
                format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
            ));
        }
    }
    Ok(())
}

/// linux.resources.unified, in a stable order: files of the container's
/// cgroup only.
fn unified(r: &LinuxResources, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    let mut unified: Vec<(&String, &String)> = r.unified().iter().flatten().collect();
    unified.sort();
    for (k, v) in unified {
        if k.contains('/') || k.starts_with("cgroup.") && k != "cgroup.freeze" {
            return Err(refuse(
                &format!("linux.resources.unified.{k}"),
                "not a resource file of the container's cgroup",
            ));
        }
        out.push(w(format!("linux.resources.unified.{k}"), "", k.as_str(), v));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262144), 10000);
        let ws = writes(&res(r#"{"memory":{"limit":1000,"swap":3000},"cpu":{"shares":1024,"quota":50000,"period":100000},"pids":{"limit":-1}}"#), Path::new("/nonexistent")).unwrap();
        let v: Vec<(String, String)> = ws
            .iter()
            .map(|w| (w.file.clone(), w.value.clone()))
            .collect();
        assert!(v.contains(&("memory.max".into(), "1000".into())));
        assert!(v.contains(&("memory.swap.max".into(), "2000".into())));
        assert!(v.contains(&("cpu.weight".into(), "39".into())));
        assert!(v.contains(&("cpu.max".into(), "50000 100000".into())));
        assert!(v.contains(&("pids.max".into(), "max".into())));
    }

    #[test]
    fn what_v2_lacks_is_an_error() {
        let e = writes(&res(r#"{"memory":{"kernel":1000000}}"#), Path::new("/x"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "linux.resources.memory.kernel: cgroup v2 has no kernel memory limit"
        );
        let e = writes(&res(r#"{"unified":{"../x":"1"}}"#), Path::new("/x"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("linux.resources.unified.../x"), "{e}");
        let e = writes(&res(r#"{"memory":{"swap":1000}}"#), Path::new("/x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a memory limit"), "{e}");
    }
}
