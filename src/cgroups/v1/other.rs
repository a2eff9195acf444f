//! The small v1 controllers: pids, blkio, hugetlb, net_cls, net_prio, rdma.

use crate::cgroups::write::{Write, w};
use oci_spec::runtime::{LinuxBlockIo, LinuxResources};

pub fn writes(r: &LinuxResources, out: &mut Vec<Write>) {
    if let Some(p) = r.pids() {
        // runc's reading: 0 leaves the limit alone, a negative one lifts it.
        match p.limit() {
            0 => {}
            l if l < 0 => out.push(w("linux.resources.pids.limit", "pids", "pids.max", "max")),
            l => out.push(w("linux.resources.pids.limit", "pids", "pids.max", l)),
        }
    }
    if let Some(b) = r.block_io() {
        block_io(b, out);
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        out.push(w(
            format!("linux.resources.hugepageLimits[{i}]"),
            "hugetlb",
            format!("hugetlb.{}.limit_in_bytes", h.page_size()),
            h.limit(),
        ));
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            out.push(w(
                "linux.resources.network.classID",
                "net_cls",
                "net_cls.classid",
                id,
            ));
        }
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            out.push(w(
                format!("linux.resources.network.priorities[{i}]"),
                "net_prio",
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
            ));
        }
    }
    for (dev, l) in r.rdma().iter().flatten() {
        let v = crate::cgroups::write::rdma_line(dev, l);
        out.push(w(
            format!("linux.resources.rdma.{dev}"),
            "rdma",
            "rdma.max",
            v,
        ));
    }
}

/// blkio's weights and throttles, device by device.
fn block_io(b: &LinuxBlockIo, out: &mut Vec<Write>) {
    let p = "linux.resources.blockIO";
    if let Some(v) = b.weight().filter(|v| *v != 0) {
        out.push(w(format!("{p}.weight"), "blkio", "blkio.weight", v));
    }
    if let Some(v) = b.leaf_weight().filter(|v| *v != 0) {
        out.push(w(
            format!("{p}.leafWeight"),
            "blkio",
            "blkio.leaf_weight",
            v,
        ));
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if let Some(v) = d.weight() {
            out.push(w(
                format!("{p}.weightDevice[{i}].weight"),
                "blkio",
                "blkio.weight_device",
                format!("{}:{} {v}", d.major(), d.minor()),
            ));
        }
        if let Some(v) = d.leaf_weight() {
            out.push(w(
                format!("{p}.weightDevice[{i}].leafWeight"),
                "blkio",
                "blkio.leaf_weight_device",
                format!("{}:{} {v}", d.major(), d.minor()),
            ));
        }
    }
    let throttles = [
        (
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (name, file, list) in throttles {
        for (i, d) in list.iter().flatten().enumerate() {
            out.push(w(
                format!("{p}.{name}[{i}]"),
                "blkio",
                file,
                format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            ));
        }
    }
}
