//! berth against real containers, as root: each test builds a busybox
//! bundle of its own, drives the berth binary and checks from inside the
//! container what a user would check.

#[path = "../common/mod.rs"]
mod common;

mod apparmor;
mod cgroups;
mod check;
mod criu;
mod cve;
mod errors;
mod exec;
mod features;
mod hooks;
mod hostile;
mod lifecycle;
mod mempolicy;
mod mounts;
mod namespaces;
mod netdev;
mod process;
mod rootless;
mod rootless_v2;
mod seccomp;
mod setup;
mod teardown;
