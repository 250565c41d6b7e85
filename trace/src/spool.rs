//! The spool: the newest samples of a recording, appended to one open file until they become a
//! part.
//!
//! A Parquet part is a whole file. Creating, writing and renaming it, and setting up the Parquet
//! writer, cost about 0.5 ms of CPU even for ten rows (`cargo run --release -p gilknocker-trace
//! --example part_cost`), which at two parts a second was half of the recorder's cost with the
//! program idle. Appending a batch to an open Arrow IPC stream costs a few tens of µs. So the
//! writer appends each flush to the spool and turns the spool into a part only every few seconds
//! (see [`crate::TraceWriter::flush`]). The spool is created under a temporary name and renamed
//! once it holds its first batch, so a spool on disk always has samples.
//!
//! A process killed mid-append leaves a torn last message: readers keep the complete batches
//! before it, which is what was flushed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;

use crate::error::{Result, TraceError};
use crate::metadata::RunMetadata;
use crate::schema;
use crate::writer::create_then_rename;

/// A spool larger than this is refused by readers: the writer turns its spool into a part long
/// before (at [`crate::writer::SPOOL_MAX_ROWS`] rows, about 100 bytes each).
pub const MAX_SPOOL_BYTES: u64 = 256 << 20;

/// An open spool being appended to.
pub(crate) struct SpoolWriter {
    path: PathBuf,
    writer: StreamWriter<BufWriter<File>>,
}

impl std::fmt::Debug for SpoolWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SpoolWriter {
    /// Create the spool at `path` holding `first`, with `meta` in its schema's metadata.
    pub(crate) fn create(path: &Path, meta: &RunMetadata, first: &RecordBatch) -> Result<Self> {
        let schema = schema::spool_schema()
            .with_metadata(meta.to_key_values().into_iter().collect::<HashMap<_, _>>());
        let writer = create_then_rename(path, |file| {
            let mut writer = StreamWriter::try_new_buffered(file, &schema)
                .map_err(|e| ipc_write_error(path, e))?;
            writer.write(first).map_err(|e| ipc_write_error(path, e))?;
            writer.flush().map_err(|e| ipc_write_error(path, e))?;
            Ok(writer)
        })?;
        Ok(SpoolWriter {
            path: path.to_path_buf(),
            writer,
        })
    }

    /// Append `batch` and hand it to the operating system (no fsync: the spool protects
    /// against the process dying, not the machine).
    pub(crate) fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .map_err(|e| ipc_write_error(&self.path, e))?;
        self.writer
            .flush()
            .map_err(|e| ipc_write_error(&self.path, e))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Arrow wraps I/O errors; unwrap them so "No space left on device" keeps its errno.
fn ipc_write_error(path: &Path, err: arrow_schema::ArrowError) -> TraceError {
    match err {
        arrow_schema::ArrowError::IoError(_, inner) => TraceError::io(path, inner),
        other => TraceError::invalid(path, format!("could not write the spool: {other}")),
    }
}

/// What a spool holds.
#[derive(Debug)]
pub struct SpoolContents {
    /// The run metadata when the spool was created.
    pub metadata: RunMetadata,
    /// Its complete batches, in order (label as plain strings: [`schema::spool_schema`]).
    pub batches: Vec<RecordBatch>,
    /// True when the last message was cut short (the process died while appending it).
    pub torn: bool,
}

/// Read a spool: its metadata and every complete batch.
pub fn read_spool(path: &Path) -> Result<SpoolContents> {
    let file = File::open(path).map_err(|e| TraceError::io(path, e))?;
    let len = file.metadata().map_err(|e| TraceError::io(path, e))?.len();
    if len > MAX_SPOOL_BYTES {
        return Err(TraceError::invalid(
            path,
            format!(
                "spool of {len} bytes is larger than a recorder writes (limit {MAX_SPOOL_BYTES})"
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_SPOOL_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| TraceError::io(path, e))?;
    // The IPC decoder may panic on some corrupt input: an error, never a crash.
    match std::panic::catch_unwind(|| decode(path, &bytes)) {
        Ok(result) => result,
        Err(_) => Err(TraceError::invalid(
            path,
            "corrupt spool (the decoder failed)",
        )),
    }
}

fn decode(path: &Path, bytes: &[u8]) -> Result<SpoolContents> {
    let reader = StreamReader::try_new(io::Cursor::new(bytes), None).map_err(|e| {
        TraceError::invalid(path, format!("not a gilknocker spool: {}", one_line(&e)))
    })?;
    let schema = reader.schema();
    let metadata = RunMetadata::from_key_values(
        path,
        schema
            .metadata()
            .iter()
            .map(|(k, v)| (k.as_str(), Some(v.as_str()))),
    )?;
    let mut batches = Vec::new();
    let mut torn = false;
    for batch in reader {
        match batch {
            Ok(batch) => batches.push(batch),
            Err(_) => {
                torn = true;
                break;
            }
        }
    }
    Ok(SpoolContents {
        metadata,
        batches,
        torn,
    })
}

fn one_line(e: &arrow_schema::ArrowError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}
