//! Replays every input kept in `fuzz/regressions/TARGET/` through the same
//! checks the fuzz targets run, so an input that once found a bug stays a test
//! in `cargo test` (the fuzzers themselves need nightly; CI runs them too).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[path = "../../../fuzz/checks.rs"]
mod checks;

use std::path::Path;

/// One fuzz target's check of one input.
type Check = fn(&[u8]);

fn replay(target: &str, check: Check) -> usize {
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
fn every_kept_input_passes_its_check_again() {
    let targets: [(&str, Check); 4] = [
        ("command_line", checks::command_line),
        ("host_port", checks::host_port),
        ("ascii_codec", checks::ascii_codec),
        ("config", checks::config),
    ];
    for (target, check) in targets {
        assert!(replay(target, check) > 0, "no inputs kept for {target}");
    }
}
