//! Our own conformance tests, written from the runtime-spec's text
//! (runtime.md, config.md, config-linux.md): each test names the clause it
//! checks. The upstream runtime-tools suite is run separately
//! (DEVELOPERS.md).

#[path = "../common/mod.rs"]
mod common;

mod operations;
