//! Fuzz target: see `checks::ascii_codec`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::ascii_codec(data));
