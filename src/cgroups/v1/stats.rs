//! v1 statistics, read from each controller's files.

use crate::cgroups::stats::*;
use std::path::Path;

/// Clock ticks (cpuacct.stat's unit) to nanoseconds.
fn ticks_to_ns(t: u64) -> u64 {
    let hz = rustix::param::clock_ticks_per_second().max(1);
    t * (1_000_000_000 / hz)
}

pub fn cpu(cpuacct: Option<&Path>, cpu: Option<&Path>, s: &mut Stats) {
    if let Some(d) = cpuacct {
        s.cpu.usage.total = read_u64(&d.join("cpuacct.usage"));
        s.cpu.usage.percpu = std::fs::read_to_string(d.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let st = read_kv(&d.join("cpuacct.stat"));
        s.cpu.usage.user = ticks_to_ns(st.get("user").copied().unwrap_or(0));
        s.cpu.usage.kernel = ticks_to_ns(st.get("system").copied().unwrap_or(0));
    }
    if let Some(d) = cpu {
        let st = read_kv(&d.join("cpu.stat"));
        s.cpu.throttling.periods = st.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttling.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttling.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
    }
}

fn entry(d: &Path, prefix: &str) -> MemoryEntry {
    MemoryEntry {
        limit: read_u64(&d.join(format!("{prefix}.limit_in_bytes"))),
        usage: read_u64(&d.join(format!("{prefix}.usage_in_bytes"))),
        max: read_u64(&d.join(format!("{prefix}.max_usage_in_bytes"))),
        failcnt: read_u64(&d.join(format!("{prefix}.failcnt"))),
    }
}

pub fn memory(d: &Path, s: &mut Stats) {
    s.memory.usage = entry(d, "memory");
    s.memory.swap = entry(d, "memory.memsw");
    s.memory.kernel = entry(d, "memory.kmem");
    s.memory.kernel_tcp = entry(d, "memory.kmem.tcp");
    s.memory.raw = read_kv(&d.join("memory.stat"));
    s.memory.cache = s.memory.raw.get("cache").copied().unwrap_or(0);
}

pub fn pids(d: &Path, s: &mut Stats) {
    s.pids.current = read_u64(&d.join("pids.current"));
    s.pids.limit = read_u64(&d.join("pids.max"));
}

fn blkio_entries(file: &Path) -> Vec<BlkioEntry> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (maj, min) = f.first()?.split_once(':')?;
            Some(BlkioEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op: f.get(1)?.to_string(),
                value: f.get(2)?.parse().ok()?,
            })
        })
        .collect()
}

pub fn blkio(d: &Path, s: &mut Stats) {
    s.blkio.io_service_bytes_recursive =
        blkio_entries(&d.join("blkio.throttle.io_service_bytes_recursive"));
    s.blkio.io_serviced_recursive = blkio_entries(&d.join("blkio.throttle.io_serviced_recursive"));
}

pub fn hugetlb(d: &Path, s: &mut Stats) {
    let Ok(entries) = std::fs::read_dir(d) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|n| n.strip_suffix(".usage_in_bytes"))
        else {
            continue;
        };
        s.hugetlb.insert(
            size.to_string(),
            Hugetlb {
                usage: read_u64(&d.join(&name)),
                max: read_u64(&d.join(format!("hugetlb.{size}.max_usage_in_bytes"))),
                failcnt: read_u64(&d.join(format!("hugetlb.{size}.failcnt"))),
            },
        );
    }
}
