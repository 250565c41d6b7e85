//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The real `gilknock-analyze` binary.
pub fn analyze() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gilknock-analyze"))
}

/// A file in the repository's testdata directory.
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name)
}

/// Run the binary and check the contract for bad input: exit code 2, nothing on stdout, one
/// line on stderr that names `names` and contains `problem`, no panic.
pub fn assert_input_error(args: &[&str], names: &str, problem: &str) {
    let output = analyze().args(args).output().expect("run gilknock-analyze");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "args {args:?}, stderr: {stderr}"
    );
    assert!(output.stdout.is_empty(), "args {args:?} wrote to stdout");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    assert!(stderr.starts_with("gilknock-analyze: error: "), "{stderr}");
    assert!(stderr.contains(names), "'{names}' not named in: {stderr}");
    assert!(stderr.contains(problem), "'{problem}' not in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
