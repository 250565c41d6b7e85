//! Corrupted traces: whatever bytes a file holds, the analyzer reports an error or a result,
//! never a panic (a cheap, always-on complement to the cargo-fuzz target in fuzz/).

mod common;

use std::path::Path;

use gilknocker_analyzer::progress::Progress;
use gilknocker_analyzer::scan::{scan_path, ScanOptions};
use proptest::prelude::*;

fn analyze_bytes(dir: &Path, bytes: &[u8]) {
    let path = dir.join("mutated.parquet");
    std::fs::write(&path, bytes).unwrap();
    let options = ScanOptions {
        timeline_columns: Some(50),
        by_label: true,
    };
    match scan_path(&path, options, &Progress::hidden()) {
        Ok(scan) => {
            // Whatever was accepted must summarize and compare without trouble.
            let summary =
                gilknocker_analyzer::report::SummaryReport::from_scans(std::slice::from_ref(&scan));
            assert_eq!(summary.traces[0].figures.samples, scan.samples());
            let _ = gilknocker_analyzer::diff::DiffReport::new(&scan, &scan, &[]);
        }
        Err(err) => {
            let message = err.to_string();
            assert!(
                message.contains("mutated.parquet"),
                "error does not name the file: {message}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn flipped_bytes_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = std::fs::read(common::testdata("mixed.parquet")).unwrap();
        for (position, value) in flips {
            let index = position % bytes.len();
            bytes[index] ^= value | 1;
        }
        let dir = tempfile::tempdir().unwrap();
        analyze_bytes(dir.path(), &bytes);
    }

    #[test]
    fn truncated_files_never_panic(keep in 0usize..20_000) {
        let bytes = std::fs::read(common::testdata("idle.parquet")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        analyze_bytes(dir.path(), &bytes[..keep.min(bytes.len())]);
    }
}
