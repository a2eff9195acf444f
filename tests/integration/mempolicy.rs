//! linux.memoryPolicy (runtime-spec 1.3): the policy the container's
//! process and exec'd processes run under, read back inside the container
//! by get_mempolicy(2) from a small static probe. This host has one memory
//! node, 0; policies across two nodes need a guest started with two.

use crate::common::Bundle;
use serde_json::json;

/// A static program printing get_mempolicy(2)'s mode, flags and node mask,
/// built into the rootfs with the host's cc.
const PROBE: &str = r#"#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(void) {
    int mode = -1; unsigned long mask[16] = {0};
    if (syscall(SYS_get_mempolicy, &mode, mask, 1024, 0, 0) != 0) { perror("get_mempolicy"); return 1; }
    printf("mode %d flags %d nodes %lx\n", mode & 0xff, mode & ~0xff, mask[0]);
    return 0;
}
"#;

pub(crate) fn with_probe(args: &[&str]) -> Bundle {
    let b = Bundle::new(args);
    let src = b.path.join("probe.c");
    std::fs::write(&src, PROBE).unwrap();
    let out = std::process::Command::new("cc")
        .args(["-static", "-O1", "-o"])
        .arg(b.path.join("rootfs/bin/mempolicy"))
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cc (scripts/deps.sh installs gcc): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    b
}

#[test]
fn the_policy_holds_in_the_container_and_in_exec() {
    let b = with_probe(&["sleep", "1000"]);
    b.config(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"}));
    let id = b.id("mpol");
    b.run_detached(&id);
    // The container's process: its pid 1 is sleep; its policy is inherited
    // by what it forks, so exec's answer is checked separately below.
    let out = b.berth(&["exec", &id, "mempolicy"]);
    out.ok();
    assert_eq!(out.stdout, "mode 2 flags 0 nodes 1\n");
    let out = b.berth(&["delete", "--force", &id]);
    out.ok();

    let b = with_probe(&["mempolicy"]);
    b.config(|c| {
        c["linux"]["memoryPolicy"] =
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]})
    });
    let out = b.run(&b.id("interleave"));
    out.ok();
    assert_eq!(out.stdout, "mode 3 flags 32768 nodes 1\n");
}

#[test]
fn without_a_policy_the_default_holds() {
    let b = with_probe(&["mempolicy"]);
    let out = b.run(&b.id("nompol"));
    out.ok();
    assert_eq!(out.stdout, "mode 0 flags 0 nodes 0\n");
}

/// MPOL_WEIGHTED_INTERLEAVE came with Linux 6.9: the 6.18 host runs it,
/// the v2 guest's 6.1 refuses it, and the error names the field.
#[test]
fn a_mode_the_kernel_lacks_is_an_error_naming_it() {
    let b = with_probe(&["mempolicy"]);
    b.config(|c| {
        c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0"})
    });
    let id = b.id("weighted");
    let out = b.run(&id);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    if (v.next().unwrap(), v.next().unwrap()) >= (6, 9) {
        out.ok();
        assert_eq!(out.stdout, "mode 6 flags 0 nodes 1\n");
    } else {
        assert_ne!(out.code, 0, "{out:?}");
        assert!(
            out.stderr
                .contains("set_mempolicy linux.memoryPolicy (MPOL_WEIGHTED_INTERLEAVE"),
            "{}",
            out.stderr
        );
        b.assert_no_leftovers(&id);
    }
}

#[test]
fn bad_policies_are_refused_naming_the_field() {
    let b = Bundle::new(&["true"]);
    for (policy, want) in [
        (
            json!({"mode": "MPOL_BIND", "nodes": "7"}),
            "config.json: linux.memoryPolicy.nodes: node 7 is not a memory node of this host",
        ),
        (
            json!({"mode": "MPOL_LOCAL", "nodes": "0"}),
            "config.json: linux.memoryPolicy.nodes: MPOL_LOCAL takes no nodes",
        ),
        (
            json!({"mode": "MPOL_INTERLEAVE"}),
            "config.json: linux.memoryPolicy.nodes: MPOL_INTERLEAVE needs at least one node",
        ),
        (json!({"mode": "MPOL_NOPE"}), "linux.memoryPolicy.mode"),
    ] {
        b.config(|c| c["linux"]["memoryPolicy"] = policy.clone());
        let id = b.id("badmpol");
        let out = b.create(&id);
        assert_eq!(out.code, 1, "{policy}: {out:?}");
        assert!(out.stderr.contains(want), "{policy}: {}", out.stderr);
        b.assert_no_leftovers(&id);
    }
}
