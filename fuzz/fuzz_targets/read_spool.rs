//! Any bytes, as the spool of an unfinished recording (next to its metadata-only first part):
//! read directly and through the trace reader of the parts directory, as `gilknocker.load()`,
//! `recover` and the analyzer do. Must end in a result or an error, never a panic, a hang or an
//! unbounded allocation.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use gilknocker_trace::{parts_dir, read_spool, RunMetadata, ScheduleInfo, TraceReader, TraceWriter};
use libfuzzer_sys::fuzz_target;

/// (parts directory, spool path), with the first part written once.
fn scratch() -> &'static (PathBuf, PathBuf) {
    static DIR: OnceLock<(tempfile::TempDir, (PathBuf, PathBuf))> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("fuzz.parquet");
        let mut writer = TraceWriter::create(&path).expect("trace writer");
        let meta = RunMetadata::new(ScheduleInfo::continuous(2_000_000, true), 0);
        writer.write_header(&meta).expect("first part");
        let parts = parts_dir(&path);
        let spool = parts.join(".spool-000002.arrows");
        (dir, (parts, spool))
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    let (parts, spool) = scratch();
    if std::fs::write(spool, data).is_err() {
        return;
    }
    let _ = read_spool(spool);
    let Ok(reader) = TraceReader::open(parts) else {
        return;
    };
    for unit in 0..reader.num_units() {
        let _ = reader.read_unit(unit);
    }
});
