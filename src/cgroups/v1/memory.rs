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
    let limit = m.limit().filter(|v| *v != 0);
    if let Some(v) = limit {
        out.push(w(format!("{P}.limit"), C, "memory.limit_in_bytes", v));
    }
    // v1's swap is memory+swap: it must stay at or above the limit, so
    // apply orders the two writes (`swap_first`). A limit of -1 alone means
    // no limit at all, memory+swap too (where the kernel accounts swap),
    // as with runc: else the limit could not rise above memory+swap.
    match m.swap().filter(|v| *v != 0) {
        Some(v) => out.push(w(format!("{P}.swap"), C, "memory.memsw.limit_in_bytes", v)),
        None if limit == Some(-1) => {
            out.push(w(format!("{P}.limit"), C, "memory.memsw.limit_in_bytes", -1).if_present())
        }
        None => {}
    }
    if let Some(v) = m.reservation().filter(|v| *v != 0) {
        out.push(w(
            format!("{P}.reservation"),
            C,
            "memory.soft_limit_in_bytes",
            v,
        ));
    }
    if let Some(v) = m.kernel().filter(|v| *v != 0) {
        out.push(w(format!("{P}.kernel"), C, "memory.kmem.limit_in_bytes", v));
    }
    if let Some(v) = m.kernel_tcp().filter(|v| *v != 0) {
        out.push(w(
            format!("{P}.kernelTCP"),
            C,
            "memory.kmem.tcp.limit_in_bytes",
            v,
        ));
    }
    if let Some(v) = m.swappiness() {
        out.push(w(format!("{P}.swappiness"), C, "memory.swappiness", v));
    }
    if let Some(v) = m.disable_oom_killer() {
        out.push(w(
            format!("{P}.disableOOMKiller"),
            C,
            "memory.oom_control",
            if v { 1 } else { 0 },
        ));
    }
    if let Some(v) = m.use_hierarchy() {
        out.push(w(
            format!("{P}.useHierarchy"),
            C,
            "memory.use_hierarchy",
            if v { 1 } else { 0 },
        ));
    }
}

/// Whether memory+swap must be written before the memory limit: the
/// kernel keeps memory+swap at or above the limit after each write, so the
/// new memory+swap goes first when the current limit fits under it (or it
/// is unlimited, -1); else the limit first (it is then below the current
/// memory+swap, and the new memory+swap above it).
pub fn swap_first(current_limit: u64, new_swap: i64) -> bool {
    new_swap < 0 || new_swap as u64 >= current_limit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(json: &str) -> Vec<(String, String, bool)> {
        let r: LinuxResources = serde_json::from_str(json).unwrap();
        let mut out = Vec::new();
        writes(&r, &mut out);
        out.into_iter()
            .map(|w| (w.file, w.value, w.optional))
            .collect()
    }

    #[test]
    fn unlimited_memory_lifts_memory_and_swap() {
        let f = files(r#"{"memory":{"limit":-1}}"#);
        assert_eq!(
            f,
            [
                ("memory.limit_in_bytes".into(), "-1".into(), false),
                ("memory.memsw.limit_in_bytes".into(), "-1".into(), true)
            ]
        );
        // An explicit memory+swap is the user's.
        let f = files(r#"{"memory":{"limit":-1,"swap":-1}}"#);
        assert_eq!(
            f[1],
            ("memory.memsw.limit_in_bytes".into(), "-1".into(), false)
        );
        assert_eq!(files(r#"{"memory":{"limit":1000}}"#).len(), 1);
    }

    #[test]
    fn memory_and_swap_order_keeps_swap_at_or_above_the_limit() {
        // From 100M/200M: unlimited, or up to 300M/400M: memory+swap first.
        assert!(swap_first(100 << 20, -1));
        assert!(swap_first(100 << 20, 400 << 20));
        // From 300M/400M down to 64M/128M: the limit first.
        assert!(!swap_first(300 << 20, 128 << 20));
        // From unlimited (what the kernel shows) down: the limit first.
        assert!(!swap_first(9223372036854771712, 128 << 20));
        // Every step of either order stays valid for these.
        for (l0, s0, l, s) in [
            (100i64, 200i64, -1i64, -1i64),
            (100, 200, 300, 400),
            (300, 400, 64, 128),
            (100, 200, 50, 60),
        ] {
            let inf = |v: i64| if v < 0 { i64::MAX } else { v };
            let (mid_l, mid_s) = if swap_first(l0 as u64, s) {
                (l0, s)
            } else {
                (l, s0)
            };
            assert!(
                inf(mid_l) <= inf(mid_s),
                "{l0}/{s0} -> {l}/{s}: middle step {mid_l}/{mid_s}"
            );
        }
    }
}
