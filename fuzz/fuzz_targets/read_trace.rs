//! Any bytes, opened as a trace and aggregated like `summary` and `timeline` do: must end in a
//! result or an error, never a panic, a hang or an unbounded allocation. (The analyzer turns
//! panics inside the Parquet decoder into errors, see `scan::read_unit_guarded`; this target
//! calls the reader directly too, so it also finds those panics for the trace crate to fix.)
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use gilknocker_analyzer::progress::Progress;
use gilknocker_analyzer::scan::{scan, ScanOptions};
use gilknocker_trace::TraceReader;
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
    let path = scratch();
    if std::fs::write(path, data).is_err() {
        return;
    }
    let Ok(reader) = TraceReader::open(path) else {
        return;
    };
    for unit in 0..reader.num_units() {
        let _ = reader.read_unit(unit);
    }
    let options = ScanOptions {
        timeline_columns: Some(64),
        ..ScanOptions::default()
    };
    let _ = scan(&reader, options, &Progress::hidden());
});
