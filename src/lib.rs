//! berth: an OCI runtime. The binary (main.rs) is a thin CLI
//! (src/commands/) over the container lifecycle (src/container/), which
//! composes process, mounts, cgroups, seccomp, hooks and criu. A library too, so
//! the fuzz targets (fuzz/) can drive the config loader.

pub mod cgroups;
pub mod commands;
pub mod config;
pub mod container;
pub mod criu;
pub mod error;
pub mod hooks;
pub mod logging;
pub mod mountinfo;
pub mod mounts;
pub mod netlink;
pub mod process;
pub mod seccomp;
pub mod syscall;
