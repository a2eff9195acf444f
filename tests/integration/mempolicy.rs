//! linux.memoryPolicy (runtime-spec 1.3): the policy the container's
//! process and exec'd processes run under, read back inside the container
//! by get_mempolicy(2) from a small static probe, with the nodes the
//! probe's own pages land on. This host has one memory node, 0; the v2
//! guest has two (scripts/v2-guest.sh; tests/v2/run.sh makes sure), and
//! there the policies span nodes 0 and 1.

use crate::common::Bundle;
use serde_json::json;

/// A static program printing get_mempolicy(2)'s mode, flags and node mask;
/// given a number N, it then touches N pages of its own and prints the
/// mask of the nodes they are on. Built into the rootfs with the host's cc.
const PROBE: &str = r##"#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    int mode = -1; unsigned long mask[16] = {0};
    if (syscall(SYS_get_mempolicy, &mode, mask, 1024, 0, 0) != 0) { perror("get_mempolicy"); return 1; }
    printf("mode %d flags %d nodes %lx\n", mode & 0xff, mode & ~0xff, mask[0]);
    if (argc < 2) return 0;
    long n = atol(argv[1]), page = sysconf(_SC_PAGESIZE);
    unsigned long on = 0;
    char *p = mmap(0, n * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    for (long i = 0; i < n; i++) {
        int node = -1;
        p[i * page] = 1;
        /* MPOL_F_NODE | MPOL_F_ADDR: the node of the page at the address */
        if (syscall(SYS_get_mempolicy, &node, 0, 0, p + i * page, 3) != 0) { perror("get_mempolicy"); return 1; }
        on |= 1UL << node;
    }
    printf("pages on nodes %lx\n", on);
    return 0;
}
"##;

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

/// Whether this host has memory node 1 as well as 0: the list in
/// /sys/devices/system/node/online ("0", "0-1", "0,2-3").
fn two_nodes() -> bool {
    let online = std::fs::read_to_string("/sys/devices/system/node/online").unwrap();
    online.trim().split(',').any(|r| {
        let (lo, hi) = r.split_once('-').unwrap_or((r, r));
        lo.parse::<u32>().unwrap() <= 1 && hi.parse::<u32>().unwrap() >= 1
    })
}

#[test]
fn the_policy_holds_in_the_container_and_in_exec() {
    // The nodes the policies span, and their mask.
    let (nodes, mask) = if two_nodes() { ("0-1", 3) } else { ("0", 1) };
    let b = with_probe(&["sleep", "1000"]);
    b.config(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": nodes}));
    let id = b.id("mpol");
    b.run_detached(&id);
    // The container's process: its pid 1 is sleep; its policy is inherited
    // by what it forks, so exec's answer is checked separately below.
    let out = b.berth(&["exec", &id, "mempolicy"]);
    out.ok();
    assert_eq!(out.stdout, format!("mode 2 flags 0 nodes {mask:x}\n"));
    let out = b.berth(&["delete", "--force", &id]);
    out.ok();

    // Interleaved, the pages go to every node of the policy in turn.
    let b = with_probe(&["mempolicy", "64"]);
    b.config(|c| {
        c["linux"]["memoryPolicy"] =
            json!({"mode": "MPOL_INTERLEAVE", "nodes": nodes, "flags": ["MPOL_F_STATIC_NODES"]})
    });
    let out = b.run(&b.id("interleave"));
    out.ok();
    assert_eq!(
        out.stdout,
        format!("mode 3 flags 32768 nodes {mask:x}\npages on nodes {mask:x}\n")
    );
    if !two_nodes() {
        return;
    }
    // Bound to node 1 (wherever the process runs): every page is there.
    let b = with_probe(&["mempolicy", "64"]);
    b.config(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "1"}));
    let out = b.run(&b.id("bind1"));
    out.ok();
    assert_eq!(out.stdout, "mode 2 flags 0 nodes 2\npages on nodes 2\n");
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
