//! berth under its real clients: containerd (with ctr), podman (as root and
//! rootless, as an ordinary user the test makes) and dockerd,
//! each started privately by its test (a root, state, sockets and cgroup
//! parent of its own; no change to the host's network) with berth where
//! runc would be, and driven as a user would drive it. A daemon that cannot
//! start fails its test with its log. BERTH_CLIENTS_RUNTIME=runc runs the
//! same scenarios with Debian's runc, to tell a client's limit on this
//! machine from a bug of berth's; BERTH_CLIENTS_ONLY=text runs only the
//! scenarios whose names hold it.

#[path = "../common/mod.rs"]
mod common;

mod daemon;
mod host;
mod image;
mod suite;

mod containerd;
mod cri;
mod docker;
mod podman;
mod podman_rootless;
