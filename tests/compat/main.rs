//! The runc contract, tested differentially: every scenario runs once with
//! runc (Debian's 1.1.5) and once with berth, and what a user or a client
//! would see must agree (harness.rs says what is compared and normalised).
//! A difference berth keeps on purpose is listed with its scenario, and why.
//!
//! Adding a scenario: a `#[test]` in the file of its area that calls
//! `compare(|c| ...)` (or `compare_with(&[Differ{..}], ..)`), drives the
//! runtime through `c.rt(&[..])` and records with `c.see*`.

#[path = "../common/mod.rs"]
mod common;

mod harness;
mod inside;

mod cgroups;
mod cli;
mod lifecycle;
mod mounts;
mod operations;
mod process;
mod rootless;
