//! Any bytes, put through what `gilknock-analyze summary` does (scan, report, text and JSON
//! rendering) and `diff` against itself: a result or an error, never a panic. Unlike the binary,
//! which turns a panic into a one-line "internal error", this calls the library directly so that
//! libFuzzer sees every panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use gilknocker_analyzer::diff::DiffReport;
use gilknocker_analyzer::progress::Progress;
use gilknocker_analyzer::render;
use gilknocker_analyzer::report::SummaryReport;
use gilknocker_analyzer::scan::{scan_path, ScanOptions};
use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("fuzz.parquet");
        (dir, path)
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    // The analyzer catches panics of the Parquet decoder on corrupt pages and turns them into
    // errors (scan::read_unit_guarded); libfuzzer-sys's panic hook would abort on those caught
    // panics too. Put the default hook back: an uncaught panic still aborts the run, because
    // libfuzzer-sys aborts when the target unwinds.
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| drop(std::panic::take_hook()));
    let path = scratch();
    if std::fs::write(path, data).is_err() {
        return;
    }
    let Ok(scan) = scan_path(path, ScanOptions::default(), &Progress::hidden()) else {
        return;
    };
    let report = SummaryReport::from_scans(std::slice::from_ref(&scan));
    let mut text = Vec::new();
    render::text::write_summary(&mut text, &report).expect("text summary");
    let mut json = Vec::new();
    render::json::write_json(&mut json, &report).expect("JSON summary");
    serde_json::from_slice::<serde_json::Value>(&json).expect("summary JSON parses");
    if scan.samples() > 0 {
        let diff = DiffReport::new(&scan, &scan, &[]);
        let mut json = Vec::new();
        render::json::write_json(&mut json, &diff).expect("JSON diff");
    }
});
