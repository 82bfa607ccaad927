//! Replays every input kept in `fuzz/regressions/TARGET/` through the same
//! checks the fuzz targets run, so an input that once found a bug stays a test
//! in `cargo test` (the fuzzers themselves need nightly; CI runs them too).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[path = "../../../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| check(&data));
        assert!(result.is_ok(), "{} fails again", path.display());
        n += 1;
    }
    n
}

#[test]
fn command_line_regressions() {
    assert!(replay("command_line", checks::command_line) > 0);
}

#[test]
fn host_port_regressions() {
    assert!(replay("host_port", checks::host_port) > 0);
}

#[test]
fn ascii_codec_regressions() {
    assert!(replay("ascii_codec", checks::ascii_codec) > 0);
}

#[test]
fn config_regressions() {
    assert!(replay("config", checks::config) > 0);
}
