//! Any bytes as config.json: parsed, validated and planned as far as that
//! goes without touching the host. Every input must give Ok or a clean
//! error; a panic or an abort is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = berth::container::check_untrusted(data);
});
