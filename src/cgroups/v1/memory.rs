//! v1 memory: limit, reservation, memory+swap, kernel and kernel TCP,
//! swappiness, the OOM killer switch and use_hierarchy.

use crate::cgroups::write::{Write, w};
use oci_spec::runtime::LinuxResources;

const C: &str = "memory";
const P: &str = "linux.resources.memory";

/// A zero is "not set", as runc reads it (docker's update sends zeros for
/// what it leaves alone); swappiness 0 is a value.
pub fn writes(r: &LinuxResources, out: &mut Vec<Write>) {
    let Some(m) = r.memory() else { return };
    if let Some(v) = m.limit().filter(|v| *v != 0) {
        out.push(w(format!("{P}.limit"), C, "memory.limit_in_bytes", v));
    }
    // v1's swap is memory+swap: it must stay at or above the limit; apply
    // retries in the other order when the kernel says so.
    if let Some(v) = m.swap().filter(|v| *v != 0) {
        out.push(w(format!("{P}.swap"), C, "memory.memsw.limit_in_bytes", v));
    }
    if let Some(v) = m.reservation().filter(|v| *v != 0) {
        out.push(w(format!("{P}.reservation"), C, "memory.soft_limit_in_bytes", v));
    }
    if let Some(v) = m.kernel().filter(|v| *v != 0) {
        out.push(w(format!("{P}.kernel"), C, "memory.kmem.limit_in_bytes", v));
    }
    if let Some(v) = m.kernel_tcp().filter(|v| *v != 0) {
        out.push(w(format!("{P}.kernelTCP"), C, "memory.kmem.tcp.limit_in_bytes", v));
    }
    if let Some(v) = m.swappiness() {
        out.push(w(format!("{P}.swappiness"), C, "memory.swappiness", v));
    }
    if let Some(v) = m.disable_oom_killer() {
        out.push(w(format!("{P}.disableOOMKiller"), C, "memory.oom_control", if v { 1 } else { 0 }));
    }
    if let Some(v) = m.use_hierarchy() {
        out.push(w(format!("{P}.useHierarchy"), C, "memory.use_hierarchy", if v { 1 } else { 0 }));
    }
}
