//! v2 statistics: cpu.stat, memory.*, pids.*, io.stat, hugetlb.*.

use crate::cgroups::stats::*;
use std::path::Path;

pub fn collect(d: &Path) -> Stats {
    let mut s = Stats::default();
    let cpu = read_kv(&d.join("cpu.stat"));
    let us = |k: &str| cpu.get(k).copied().unwrap_or(0) * 1000;
    s.cpu.usage.total = us("usage_usec");
    s.cpu.usage.user = us("user_usec");
    s.cpu.usage.kernel = us("system_usec");
    s.cpu.throttling.periods = cpu.get("nr_periods").copied().unwrap_or(0);
    s.cpu.throttling.throttled_periods = cpu.get("nr_throttled").copied().unwrap_or(0);
    s.cpu.throttling.throttled_time = us("throttled_usec");

    let events = read_kv(&d.join("memory.events"));
    s.memory.usage = MemoryEntry {
        limit: read_u64(&d.join("memory.max")),
        usage: read_u64(&d.join("memory.current")),
        max: read_u64(&d.join("memory.peak")),
        failcnt: events.get("max").copied().unwrap_or(0),
    };
    s.memory.swap = MemoryEntry {
        limit: read_u64(&d.join("memory.swap.max")),
        usage: read_u64(&d.join("memory.swap.current")),
        ..Default::default()
    };
    s.memory.raw = read_kv(&d.join("memory.stat"));
    s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);

    s.pids.current = read_u64(&d.join("pids.current"));
    s.pids.limit = read_u64(&d.join("pids.max"));

    for line in std::fs::read_to_string(d.join("io.stat"))
        .unwrap_or_default()
        .lines()
    {
        let mut f = line.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    if let Ok(entries) = std::fs::read_dir(d) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(size) = name
                .strip_prefix("hugetlb.")
                .and_then(|n| n.strip_suffix(".current"))
            else {
                continue;
            };
            let ev = read_kv(&d.join(format!("hugetlb.{size}.events")));
            s.hugetlb.insert(
                size.to_string(),
                Hugetlb {
                    usage: read_u64(&d.join(&name)),
                    max: 0,
                    failcnt: ev.get("max").copied().unwrap_or(0),
                },
            );
        }
    }
    s
}
