//! Turning command-line paths into trace paths.

use std::path::{Path, PathBuf};

use gilknocker_trace::schema::PARTS_SUFFIX;

use crate::error::{AnalyzeError, Result};

/// Expand directories: a `*.parts` directory is one (unfinished) trace; any other directory
/// stands for its `*.parquet` files and `*.parquet.parts` directories, sorted by name. A parts
/// directory whose finished trace also exists is skipped (the finished file supersedes it).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut traces = Vec::new();
    for path in paths {
        if path.is_dir() && !has_suffix(path, PARTS_SUFFIX) {
            let mut found = Vec::new();
            let entries = std::fs::read_dir(path).map_err(|e| AnalyzeError::io(path, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| AnalyzeError::io(path, e))?;
                let candidate = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') {
                    continue;
                }
                if candidate.is_file() && name.ends_with(".parquet") {
                    found.push(candidate);
                } else if candidate.is_dir() && name.ends_with(".parquet.parts") {
                    let finished = candidate.with_extension("");
                    if !finished.is_file() {
                        found.push(candidate);
                    }
                }
            }
            if found.is_empty() {
                return Err(AnalyzeError::NoTraces { path: path.clone() });
            }
            found.sort();
            traces.extend(found);
        } else {
            traces.push(path.clone());
        }
    }
    Ok(traces)
}

fn has_suffix(path: &Path, suffix: &str) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().ends_with(suffix))
}
