//! linux.memoryPolicy: the NUMA memory policy set_mempolicy(2) gives the
//! container's process (and exec'd ones), set just before exec so that it
//! governs the program's allocations and not berth's. Checked when the
//! config is read: the mode and node count the kernel would refuse, and
//! nodes this host does not have.

use crate::config::ConfigError;
use crate::error::{SysContext, SysError};
use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType as F, MemoryPolicyModeType as M};

const JSON: &str = "linux.memoryPolicy";
/// The kernel's MAX_NUMNODES at its largest (NODES_SHIFT 10).
const MAX_NODES: usize = 1024;

/// set_mempolicy's arguments: the mode with its flags, and the node mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemPolicy {
    /// The spec's mode name, for errors.
    pub name: String,
    pub mode: i32,
    pub mask: Vec<libc::c_ulong>,
}

/// linux.memoryPolicy as set_mempolicy(2) takes it; the rules are the
/// kernel's, so that a config it would refuse fails before anything exists.
pub fn from_spec(p: &LinuxMemoryPolicy) -> Result<MemPolicy, ConfigError> {
    let nodes = match p.nodes().as_deref().map(str::trim) {
        None | Some("") => Vec::new(),
        Some(s) => parse_nodes(s)?,
    };
    let (mode, needs_nodes) = match p.mode() {
        M::MpolDefault => (0, Some(false)),
        M::MpolPreferred => (1, None),
        M::MpolBind => (2, Some(true)),
        M::MpolInterleave => (3, Some(true)),
        M::MpolLocal => (4, Some(false)),
        M::MpolPreferredMany => (5, Some(true)),
        M::MpolWeightedInterleave => (6, Some(true)),
    };
    let name = p.mode().to_string();
    match needs_nodes {
        Some(false) if !nodes.is_empty() => {
            return Err(ConfigError::invalid(
                format!("{JSON}.nodes"),
                format!("{name} takes no nodes"),
            ));
        }
        Some(true) if nodes.is_empty() => {
            return Err(ConfigError::invalid(
                format!("{JSON}.nodes"),
                format!("{name} needs at least one node"),
            ));
        }
        _ => {}
    }
    let mut flags = 0;
    for f in p.flags().iter().flatten() {
        flags |= match f {
            F::MpolFStaticNodes => 1 << 15,
            F::MpolFRelativeNodes => 1 << 14,
            F::MpolFNumaBalancing => 1 << 13,
        };
    }
    if flags & (3 << 14) == 3 << 14 {
        return Err(ConfigError::invalid(
            format!("{JSON}.flags"),
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
        ));
    }
    if flags & (1 << 13) != 0 && !matches!(p.mode(), M::MpolBind | M::MpolPreferredMany) {
        return Err(ConfigError::invalid(
            format!("{JSON}.flags"),
            format!(
                "MPOL_F_NUMA_BALANCING goes with MPOL_BIND (or MPOL_PREFERRED_MANY), not {name}"
            ),
        ));
    }
    let bits = libc::c_ulong::BITS as usize;
    let mut mask = vec![0 as libc::c_ulong; nodes.iter().max().map_or(0, |m| m / bits + 1)];
    for n in nodes {
        mask[n / bits] |= 1 << (n % bits);
    }
    Ok(MemPolicy {
        name,
        mode: mode | flags,
        mask,
    })
}

/// "0-3,7" as node numbers.
fn parse_nodes(s: &str) -> Result<Vec<usize>, ConfigError> {
    match crate::config::parse_list(s, MAX_NODES) {
        Some(nodes) if !nodes.is_empty() => Ok(nodes),
        _ => Err(ConfigError::invalid(
            format!("{JSON}.nodes"),
            format!("\"{s}\" is not a node list like 0-3,7"),
        )),
    }
}

/// Every node of the policy is one this host has (relative node numbers
/// name positions in the allowed set, not nodes: not checked).
pub fn check_host(p: &MemPolicy) -> Result<(), ConfigError> {
    if p.mode & (1 << 14) != 0 || p.mask.is_empty() {
        return Ok(());
    }
    let file = "/sys/devices/system/node/online";
    let online = std::fs::read_to_string(file).unwrap_or_else(|_| "0".into());
    let have = parse_nodes(online.trim()).unwrap_or_default();
    let bits = libc::c_ulong::BITS as usize;
    for (w, word) in p.mask.iter().enumerate() {
        for b in 0..bits {
            let n = w * bits + b;
            if word & (1 << b) != 0 && !have.contains(&n) {
                return Err(ConfigError::invalid(
                    format!("{JSON}.nodes"),
                    format!(
                        "node {n} is not a memory node of this host ({file}: {})",
                        online.trim()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// set_mempolicy(2) for this process and what it execs.
pub fn apply(p: &MemPolicy) -> Result<(), SysError> {
    crate::syscall::set_mempolicy(p.mode, &p.mask).sys(
        "set_mempolicy",
        format!("{JSON} ({}; this kernel may lack the mode)", p.name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: &str) -> Result<MemPolicy, ConfigError> {
        from_spec(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn modes_nodes_and_flags() {
        let p = policy(
            r#"{"mode":"MPOL_INTERLEAVE","nodes":"0-1,65","flags":["MPOL_F_STATIC_NODES"]}"#,
        )
        .unwrap();
        assert_eq!(p.mode, 3 | 1 << 15);
        assert_eq!(p.mask, vec![0b11, 0b10]);
        assert_eq!(policy(r#"{"mode":"MPOL_LOCAL"}"#).unwrap().mode, 4);
        assert!(
            policy(r#"{"mode":"MPOL_PREFERRED"}"#)
                .unwrap()
                .mask
                .is_empty()
        );
        for (bad, why) in [
            (
                r#"{"mode":"MPOL_DEFAULT","nodes":"0"}"#,
                "linux.memoryPolicy.nodes: MPOL_DEFAULT takes no nodes",
            ),
            (
                r#"{"mode":"MPOL_BIND"}"#,
                "linux.memoryPolicy.nodes: MPOL_BIND needs at least one node",
            ),
            (
                r#"{"mode":"MPOL_BIND","nodes":"1-0"}"#,
                "is not a node list",
            ),
            (
                r#"{"mode":"MPOL_BIND","nodes":"0","flags":["MPOL_F_STATIC_NODES","MPOL_F_RELATIVE_NODES"]}"#,
                "exclude each other",
            ),
            (
                r#"{"mode":"MPOL_INTERLEAVE","nodes":"0","flags":["MPOL_F_NUMA_BALANCING"]}"#,
                "goes with MPOL_BIND",
            ),
        ] {
            let e = policy(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
