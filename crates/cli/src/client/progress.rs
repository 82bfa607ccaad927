//! What a client command shows while it works: progress bars with bytes, rate
//! and ETA on a terminal (one per transfer, plus a total for many files),
//! nothing when standard error is not a terminal or with `--quiet`, and one
//! JSON object per result with `--json`.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// How results and progress are shown.
#[derive(Clone)]
pub struct Output {
    multi: Option<MultiProgress>,
    pub quiet: bool,
    pub json: bool,
}

impl Output {
    pub fn new(quiet: bool, json: bool) -> Output {
        let bars = !quiet && !json && std::io::stderr().is_terminal();
        let multi = bars.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8)));
        Output { multi, quiet, json }
    }

    /// A bar for one transfer of `total` bytes (unknown: a spinner with bytes and rate).
    pub fn transfer(&self, name: &str, total: Option<u64>) -> Bar {
        let Some(multi) = &self.multi else { return Bar(None) };
        let bar = match total {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template(
                    "{msg:30!} {bar:28.cyan/blue} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg:30!} {bytes:>10} {binary_bytes_per_sec:>12}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(250));
        Bar(Some(multi.add(bar)))
    }

    /// A bar over many files, counting bytes of all of them.
    pub fn total(&self, files: u64, bytes: u64) -> Bar {
        let Some(multi) = &self.multi else { return Bar(None) };
        let bar = ProgressBar::new(bytes).with_style(
            ProgressStyle::with_template(
                "{msg:30!} {bar:28.green/white} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!("total ({files} files)"));
        Bar(Some(multi.insert(0, bar)))
    }

    /// A line for the user (standard error, above any bars), unless quiet.
    pub fn note(&self, text: &str) {
        if self.quiet || self.json {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    /// One JSON result line with `--json`.
    pub fn result(&self, value: serde_json::Value) {
        if self.json {
            println!("{value}");
        }
    }
}

/// One progress bar, or nothing.
pub struct Bar(Option<ProgressBar>);

impl Bar {
    pub fn set(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.set_position(n);
        }
    }

    pub fn add(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}
