//! Writing traces crash-safely.
//!
//! A Parquet file is unreadable until its footer is written, so a process killed while recording
//! would lose everything. While recording, samples therefore go to `<trace>.parts/`: each flush
//! is appended to the spool (an Arrow IPC stream, see [`crate::spool`]), and every few seconds
//! the spool becomes a complete Parquet file ("part"), written to a hidden temporary name and
//! renamed into place, so a part is either whole or absent. [`TraceWriter::finish`] merges the
//! parts into the trace (big row groups, written to a temporary name and renamed) and removes the
//! directory. After a crash, [`recover`] does the same merge, spool included; the parts directory
//! is also readable as is, by [`crate::TraceReader`], and its parts (without the spool) as a
//! Parquet dataset (`pd.read_parquet("run.parquet.parts")`).

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::collections::HashMap;

use arrow_array::types::Int32Type;
use arrow_array::Array;
use arrow_array::{
    ArrayRef, BooleanArray, DictionaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::error::{Result, TraceError};
use crate::estimate::WaitDetail;
use crate::metadata::RunMetadata;
use crate::schema::{
    self, column, PARTS_SUFFIX, PART_EXTENSION, PART_PREFIX, SPOOL_EXTENSION, SPOOL_PREFIX,
};
use crate::spool::{read_spool, SpoolWriter};

/// One knock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When the knock began, nanoseconds since the Unix epoch (UTC).
    pub time_ns: i64,
    /// How long re-acquiring the GIL took.
    pub wait_ns: i64,
}

/// Rows per row group of a finished trace.
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// A flush that would leave more rows than this in the spool writes a part instead: a spool
/// is for the trickle of an idle or lightly loaded program, and fast recordings make parts big
/// enough to be worth their cost anyway.
pub const SPOOL_MAX_ROWS: usize = 16 * 1024;

/// The directory holding the parts of the recording of `path`.
pub fn parts_dir(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(PARTS_SUFFIX);
    PathBuf::from(name)
}

/// Parts with fewer rows than this are written uncompressed: a zstd context per column costs
/// ~0.6 ms of CPU per part (measured on the idle recorder: 1.3 ms/s of the writer thread at two
/// parts a second), more than a few hundred rows are worth on disk. The merged trace is always
/// compressed.
pub const COMPRESS_PART_MIN_ROWS: usize = 256;

fn writer_properties(
    meta: &RunMetadata,
    max_row_group_rows: usize,
    compress: bool,
) -> WriterProperties {
    let kv = meta
        .to_key_values()
        .into_iter()
        .map(|(k, v)| KeyValue::new(k, v))
        .collect();
    // Timestamps rise by roughly the knock interval: DELTA_BINARY_PACKED. Waits are mostly tiny
    // with bursts of large values; delta packing pays the widest value in every miniblock of
    // 32 (0.9-1.5 bytes per sample more than plain, measured with
    // `cargo run --release -p gilknocker-trace --example size_probe`).
    WriterProperties::builder()
        .set_created_by(format!("gilknocker-trace {}", env!("CARGO_PKG_VERSION")))
        .set_compression(if compress {
            Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default())
        } else {
            Compression::UNCOMPRESSED
        })
        .set_dictionary_enabled(false)
        // Encodings per column: a global default would also hit string and boolean columns,
        // for which the parquet writer panics on DELTA_BINARY_PACKED.
        .set_column_encoding(
            parquet::schema::types::ColumnPath::from(column::TIME),
            Encoding::DELTA_BINARY_PACKED,
        )
        // Waits: RLE dictionary (PLAIN fallback once the dictionary page is full). Not
        // BYTE_STREAM_SPLIT: it compressed ~0.4 bytes/sample better, but DuckDB <= 1.4 cannot
        // read it for integers, and traces must open in the readers people have.
        .set_column_dictionary_enabled(
            parquet::schema::types::ColumnPath::from(column::WAIT_NS),
            true,
        )
        // interval_ns takes one or two values for long stretches: RLE dictionary costs
        // almost nothing per sample.
        .set_column_dictionary_enabled(
            parquet::schema::types::ColumnPath::from(column::INTERVAL_NS),
            true,
        )
        // Labels: few distinct strings, long runs: dictionary + RLE (PLAIN only as fallback).
        .set_column_dictionary_enabled(
            parquet::schema::types::ColumnPath::from(column::LABEL),
            true,
        )
        .set_column_encoding(
            parquet::schema::types::ColumnPath::from(column::LABEL),
            Encoding::PLAIN,
        )
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(max_row_group_rows))
        .set_key_value_metadata(Some(kv))
        .build()
}

fn batch_of(
    time_ns: Vec<i64>,
    wait_ns: Vec<i64>,
    interval_ns: Vec<i64>,
    labels: Labels,
    blocked: Vec<Option<bool>>,
    runnable_ns: Vec<Option<i64>>,
    handoff_ns: Vec<Option<i64>>,
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let time: ArrayRef =
        Arc::new(TimestampNanosecondArray::from(time_ns).with_timezone(schema::TIME_ZONE));
    let wait: ArrayRef = Arc::new(Int64Array::from(wait_ns));
    let interval: ArrayRef = Arc::new(Int64Array::from(interval_ns));
    let values: ArrayRef = Arc::new(StringArray::from(labels.names));
    let label: ArrayRef = Arc::new(DictionaryArray::<Int32Type>::try_new(
        Int32Array::from(labels.keys),
        values,
    )?);
    let blocked: ArrayRef = Arc::new(BooleanArray::from(blocked));
    let runnable: ArrayRef = Arc::new(Int64Array::from(runnable_ns));
    let handoff: ArrayRef = Arc::new(Int64Array::from(handoff_ns));
    RecordBatch::try_new(
        schema::arrow_schema(),
        vec![time, wait, interval, label, blocked, runnable, handoff],
    )
}

/// Labels of buffered samples: a key per sample into a per-part dictionary.
#[derive(Debug, Default)]
struct Labels {
    keys: Vec<Option<i32>>,
    names: Vec<String>,
    index: HashMap<String, i32>,
}

impl Labels {
    fn push(&mut self, label: Option<&str>) {
        let key = label.map(|name| match self.index.get(name) {
            Some(&key) => key,
            None => {
                let key = self.names.len() as i32;
                self.names.push(name.to_string());
                self.index.insert(name.to_string(), key);
                key
            }
        });
        self.keys.push(key);
    }
}

/// Write one complete Parquet file atomically: temporary name, then rename.
fn write_file_atomically(
    path: &Path,
    meta: &RunMetadata,
    max_row_group_rows: usize,
    compress: bool,
    fill: impl FnOnce(&mut ArrowWriter<BufWriter<File>>) -> Result<()>,
) -> Result<()> {
    create_then_rename(path, |file| {
        let mut writer = ArrowWriter::try_new(
            BufWriter::new(file),
            schema::arrow_schema(),
            Some(writer_properties(meta, max_row_group_rows, compress)),
        )
        .map_err(|e| TraceError::parquet(path, e))?;
        fill(&mut writer)?;
        let inner = writer.into_inner().map_err(|e| write_error(path, e))?;
        inner
            .into_inner()
            .map(drop)
            .map_err(|e| TraceError::io(path, e.into_error()))
    })
}

/// Create `path` whole or not at all: `write` fills a hidden temporary file, which is then
/// renamed to `path` (removed on failure). Returns what `write` returned (an open writer, for
/// the spool).
pub(crate) fn create_then_rename<T>(
    path: &Path,
    write: impl FnOnce(File) -> Result<T>,
) -> Result<T> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    let file = File::create(&tmp).map_err(|e| TraceError::io(&tmp, e))?;
    let result = write(file).and_then(|value| {
        fs::rename(&tmp, path).map_err(|e| TraceError::io(path, e))?;
        Ok(value)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Parquet wraps I/O errors; unwrap them so "No space left on device" keeps its errno.
fn write_error(path: &Path, err: parquet::errors::ParquetError) -> TraceError {
    match err {
        parquet::errors::ParquetError::External(inner) => match inner.downcast::<io::Error>() {
            Ok(io_err) => TraceError::io(path, *io_err),
            Err(other) => TraceError::parquet(path, other),
        },
        other => TraceError::parquet(path, other),
    }
}

/// Streams samples of one recording into parts, and merges them into the trace at the end.
#[derive(Debug)]
pub struct TraceWriter {
    path: PathBuf,
    parts: PathBuf,
    next_part: u64,
    /// The open spool (it will become part `next_part`), if any.
    spool: Option<SpoolWriter>,
    /// How many of the buffered samples (the oldest) are already in the spool.
    spooled: usize,
    time_ns: Vec<i64>,
    wait_ns: Vec<i64>,
    /// 0 = the schedule's polling interval (filled in when the part is written).
    interval_ns: Vec<i64>,
    labels: Labels,
    blocked: Vec<Option<bool>>,
    runnable_ns: Vec<Option<i64>>,
    handoff_ns: Vec<Option<i64>>,
}

impl TraceWriter {
    /// Prepare to record to `path`. Fails now, with the operating system's error, when the
    /// trace cannot be written there (missing directory, no permission, a directory in the way).
    pub fn create(path: &Path) -> Result<Self> {
        if path.is_dir() {
            return Err(TraceError::io(
                path,
                io::Error::from_raw_os_error(libc::EISDIR),
            ));
        }
        // The finished trace is renamed over `path`: never over a device, FIFO or socket (as
        // root, recording to /dev/full would replace the device node) or a symbolic link.
        if let Ok(existing) = fs::symlink_metadata(path) {
            let kind = existing.file_type();
            if !kind.is_file() {
                let what = if kind.is_symlink() {
                    "a symbolic link"
                } else {
                    "not a regular file (a device, FIFO or socket)"
                };
                return Err(TraceError::io(
                    path,
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "{} is {what}: give the path of a trace file",
                            path.display()
                        ),
                    ),
                ));
            }
        }
        let parts = parts_dir(path);
        match fs::create_dir(&parts) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(TraceError::io(
                    path,
                    io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!(
                            "{} already exists: an unfinished recording? Recover it with \
                             `gilknock-analyze recover {}` or remove it",
                            parts.display(),
                            path.display()
                        ),
                    ),
                ))
            }
            // Report the trace's own path: that is what the user asked for.
            Err(e) => return Err(TraceError::io(path, e)),
        }
        Ok(TraceWriter {
            path: path.to_path_buf(),
            parts,
            next_part: 1,
            spool: None,
            spooled: 0,
            time_ns: Vec::new(),
            wait_ns: Vec::new(),
            interval_ns: Vec::new(),
            labels: Labels::default(),
            blocked: Vec::new(),
            runnable_ns: Vec::new(),
            handoff_ns: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Buffer one sample knocked at the schedule's polling interval (nothing is written until
    /// [`Self::write_part`]).
    pub fn push(&mut self, sample: Sample) {
        self.push_with_interval(sample, 0);
    }

    /// Buffer one sample with the mean interval in force when it was scheduled (see
    /// [`schema::column::INTERVAL_NS`]); 0 means the schedule's polling interval.
    pub fn push_with_interval(&mut self, sample: Sample, interval_ns: i64) {
        self.push_labelled(sample, interval_ns, None);
    }

    /// Buffer one sample with its interval and the label active when it began (see
    /// [`schema::column::LABEL`]).
    pub fn push_labelled(&mut self, sample: Sample, interval_ns: i64, label: Option<&str>) {
        self.push_knock(sample, interval_ns, label, &WaitDetail::default());
    }

    /// Buffer one sample with everything the recorder knows about it (`detail`: see
    /// [`schema::column::BLOCKED`], [`schema::column::RUNNABLE_NS`] and
    /// [`schema::column::HANDOFF_NS`]).
    pub fn push_knock(
        &mut self,
        sample: Sample,
        interval_ns: i64,
        label: Option<&str>,
        detail: &WaitDetail,
    ) {
        self.time_ns.push(sample.time_ns);
        self.wait_ns.push(sample.wait_ns);
        self.interval_ns.push(interval_ns);
        self.labels.push(label);
        self.blocked.push(detail.blocked);
        self.runnable_ns.push(detail.runnable_ns);
        self.handoff_ns.push(detail.handoff_ns);
    }

    /// Samples buffered since the last part (spooled or not).
    pub fn buffered(&self) -> usize {
        self.time_ns.len()
    }

    /// `<parts>/<prefix><next_part, 6 digits><extension>`: the next part, or the spool that
    /// becomes it.
    fn numbered(&self, prefix: &str, extension: &str) -> PathBuf {
        self.parts
            .join(format!("{prefix}{:06}{extension}", self.next_part))
    }

    /// Buffered samples already in the spool, safe from a crash.
    pub fn spooled(&self) -> usize {
        self.spooled
    }

    /// Buffered samples not yet on disk: what a failing flush loses.
    pub fn unspooled(&self) -> usize {
        self.buffered() - self.spooled
    }

    /// Put the samples buffered since the last flush on disk, cheaply: append them to the
    /// spool, or, once everything buffered reaches [`SPOOL_MAX_ROWS`], write it all as a part
    /// ([`Self::write_part`]). Returns the samples flushed. On failure the samples that were
    /// not yet on disk are dropped from the buffer (memory cannot grow on a full disk) and the
    /// spool is closed; what it holds stays readable.
    pub fn flush(&mut self, meta: &RunMetadata) -> Result<usize> {
        let new = self.unspooled();
        if new == 0 {
            return Ok(0);
        }
        // After a failed append the spool is closed but its samples are still buffered: they
        // go to the part that supersedes it, never to a new spool renamed over it.
        let spool_closed = self.spool.is_none() && self.spooled > 0;
        if self.buffered() >= SPOOL_MAX_ROWS || spool_closed {
            return self.write_part(meta).map(|_| new);
        }
        let batch = self
            .spool_batch(meta.schedule.polling_interval_ns)
            .map_err(|e| TraceError::invalid(&self.path, e.to_string()));
        let appended = batch.and_then(|batch| match &mut self.spool {
            Some(spool) => spool.append(&batch),
            None => {
                let path = self.numbered(SPOOL_PREFIX, SPOOL_EXTENSION);
                self.spool = Some(SpoolWriter::create(&path, meta, &batch)?);
                Ok(())
            }
        });
        match appended {
            Ok(()) => {
                self.spooled = self.buffered();
                Ok(new)
            }
            Err(e) => {
                self.truncate(self.spooled);
                // A spool with a failed append may end in a torn message: append no more.
                // Its rows are still buffered and become part `next_part`, which supersedes it.
                self.spool = None;
                Err(e)
            }
        }
    }

    fn truncate(&mut self, rows: usize) {
        self.time_ns.truncate(rows);
        self.wait_ns.truncate(rows);
        self.interval_ns.truncate(rows);
        self.labels.keys.truncate(rows);
        self.blocked.truncate(rows);
        self.runnable_ns.truncate(rows);
        self.handoff_ns.truncate(rows);
    }

    /// The samples not yet spooled, as a batch of [`schema::spool_schema`].
    fn spool_batch(&self, default_interval: i64) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let from = self.spooled;
        let time: ArrayRef = Arc::new(
            TimestampNanosecondArray::from(self.time_ns[from..].to_vec())
                .with_timezone(schema::TIME_ZONE),
        );
        let wait: ArrayRef = Arc::new(Int64Array::from(self.wait_ns[from..].to_vec()));
        let interval: ArrayRef = Arc::new(Int64Array::from_iter_values(
            self.interval_ns[from..]
                .iter()
                .map(|&i| if i > 0 { i } else { default_interval }),
        ));
        let label: ArrayRef = Arc::new(StringArray::from_iter(
            self.labels.keys[from..]
                .iter()
                .map(|k| k.map(|k| self.labels.names[k as usize].as_str())),
        ));
        let blocked: ArrayRef = Arc::new(BooleanArray::from(self.blocked[from..].to_vec()));
        let runnable: ArrayRef = Arc::new(Int64Array::from(self.runnable_ns[from..].to_vec()));
        let handoff: ArrayRef = Arc::new(Int64Array::from(self.handoff_ns[from..].to_vec()));
        RecordBatch::try_new(
            Arc::new(schema::spool_schema()),
            vec![time, wait, interval, label, blocked, runnable, handoff],
        )
    }

    /// Write a part without samples, holding only `meta`: once it is on disk, a recording killed
    /// at any later moment recovers to a readable trace (possibly without samples).
    pub fn write_header(&mut self, meta: &RunMetadata) -> Result<()> {
        let part = self.numbered(PART_PREFIX, PART_EXTENSION);
        self.next_part += 1;
        write_file_atomically(&part, meta, ROW_GROUP_ROWS, false, |_| Ok(()))
    }

    /// Write the buffered samples (spooled or not) as a new part, which replaces the spool.
    /// The buffer is emptied even on failure, so a full disk cannot make memory grow; the error
    /// says how it failed, and the spool's samples stay on disk in the spool.
    pub fn write_part(&mut self, meta: &RunMetadata) -> Result<usize> {
        let rows = self.time_ns.len();
        let spool = self.spool.take();
        self.spooled = 0;
        if rows == 0 {
            return Ok(0);
        }
        let time_ns = std::mem::take(&mut self.time_ns);
        let wait_ns = std::mem::take(&mut self.wait_ns);
        let default_interval = meta.schedule.polling_interval_ns;
        let interval_ns = std::mem::take(&mut self.interval_ns)
            .into_iter()
            .map(|i| if i > 0 { i } else { default_interval })
            .collect();
        let labels = std::mem::take(&mut self.labels);
        let blocked = std::mem::take(&mut self.blocked);
        let runnable_ns = std::mem::take(&mut self.runnable_ns);
        let handoff_ns = std::mem::take(&mut self.handoff_ns);
        let part = self.numbered(PART_PREFIX, PART_EXTENSION);
        self.next_part += 1;
        let compress = rows >= COMPRESS_PART_MIN_ROWS;
        write_file_atomically(&part, meta, ROW_GROUP_ROWS, compress, |writer| {
            let batch = batch_of(
                time_ns,
                wait_ns,
                interval_ns,
                labels,
                blocked,
                runnable_ns,
                handoff_ns,
            )
            .map_err(|e| TraceError::parquet(&part, e))?;
            writer.write(&batch).map_err(|e| write_error(&part, e))
        })?;
        if let Some(spool) = spool {
            // The part now holds the spool's samples; if removing it fails, readers skip a
            // spool whose part exists.
            let _ = fs::remove_file(spool.path());
        }
        Ok(rows)
    }

    /// Write what is buffered, merge all parts into the trace and remove the parts directory.
    /// On failure the parts are left in place for [`recover`].
    pub fn finish(mut self, meta: &RunMetadata) -> Result<MergeStats> {
        self.write_part(meta)?;
        merge_parts(&self.parts, &self.path, meta)
    }
}

/// What a merge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeStats {
    pub parts: usize,
    pub rows: u64,
}

/// The files holding a recording's samples in a parts directory, in recording order: finished
/// parts and spools (see [`is_spool`]). A spool whose part exists was already turned into it
/// and is left out.
pub fn list_parts(parts: &Path) -> Result<Vec<PathBuf>> {
    let mut numbered = Vec::new();
    for entry in fs::read_dir(parts).map_err(|e| TraceError::io(parts, e))? {
        let entry = entry.map_err(|e| TraceError::io(parts, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let number = |prefix: &str, extension: &str| {
            name.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(extension))
                .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|digits| digits.parse::<u64>().ok())
        };
        if let Some(n) = number(PART_PREFIX, PART_EXTENSION) {
            numbered.push((n, false, entry.path()));
        } else if let Some(n) = number(SPOOL_PREFIX, SPOOL_EXTENSION) {
            numbered.push((n, true, entry.path()));
        }
    }
    numbered.sort();
    let mut files: Vec<PathBuf> = Vec::with_capacity(numbered.len());
    let mut previous: Option<u64> = None;
    for (number, _, path) in numbered {
        // Sorted by number, part before spool: a spool right after its own part is skipped.
        if previous != Some(number) {
            files.push(path);
        }
        previous = Some(number);
    }
    Ok(files)
}

/// True for a spool's path (as listed by [`list_parts`]), false for a Parquet part.
pub fn is_spool(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(SPOOL_EXTENSION))
}

/// Merge the parts in `parts` into the trace `out` with metadata `meta`, then remove `parts`.
pub fn merge_parts(parts: &Path, out: &Path, meta: &RunMetadata) -> Result<MergeStats> {
    merge_parts_with_row_groups(parts, out, meta, ROW_GROUP_ROWS)
}

/// [`merge_parts`] with a chosen row-group size (tests and the test-data generator use small
/// row groups to exercise multi-row-group files cheaply).
pub fn merge_parts_with_row_groups(
    parts: &Path,
    out: &Path,
    meta: &RunMetadata,
    row_group_rows: usize,
) -> Result<MergeStats> {
    let part_files = list_parts(parts)?;
    let mut rows = 0u64;
    write_file_atomically(out, meta, row_group_rows.max(1), true, |writer| {
        for part in &part_files {
            if is_spool(part) {
                for batch in read_spool(part)?.batches {
                    let batch = project(&batch, meta.schedule.polling_interval_ns)
                        .map_err(|e| TraceError::invalid(part, e))?;
                    rows += batch.num_rows() as u64;
                    writer.write(&batch).map_err(|e| write_error(out, e))?;
                }
                continue;
            }
            let file = File::open(part).map_err(|e| TraceError::io(part, e))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| TraceError::parquet(part, e))?
                .with_batch_size(64 * 1024)
                .build()
                .map_err(|e| TraceError::parquet(part, e))?;
            for batch in reader {
                let batch = batch.map_err(|e| TraceError::parquet(part, e))?;
                // Project by name, in our order, so parts with extra columns still merge.
                let batch = project(&batch, meta.schedule.polling_interval_ns)
                    .map_err(|e| TraceError::invalid(part, e))?;
                rows += batch.num_rows() as u64;
                writer.write(&batch).map_err(|e| write_error(out, e))?;
            }
        }
        Ok(())
    })?;
    fs::remove_dir_all(parts).map_err(|e| TraceError::io(parts, e))?;
    Ok(MergeStats {
        parts: part_files.len(),
        rows,
    })
}

fn project(batch: &RecordBatch, default_interval_ns: i64) -> Result<RecordBatch, String> {
    let get = |name: &str| {
        batch
            .column_by_name(name)
            .cloned()
            .ok_or_else(|| format!("column '{name}' is missing"))
    };
    // Parts from before a column existed get its default (the compat rule).
    let interval = match batch.column_by_name(column::INTERVAL_NS) {
        Some(c) => c.clone(),
        None => Arc::new(Int64Array::from(vec![
            default_interval_ns;
            batch.num_rows()
        ])) as ArrayRef,
    };
    let label = match batch.column_by_name(column::LABEL) {
        // A spool's labels are plain strings: dictionary-encode them.
        Some(c) if c.data_type() == &arrow_schema::DataType::Utf8 => {
            let strings = c
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or("column 'label' could not be decoded")?;
            let mut labels = Labels::default();
            for i in 0..strings.len() {
                labels.push((!strings.is_null(i)).then(|| strings.value(i)));
            }
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(
                    Int32Array::from(labels.keys),
                    Arc::new(StringArray::from(labels.names)),
                )
                .map_err(|e| e.to_string())?,
            ) as ArrayRef
        }
        Some(c) => c.clone(),
        None => arrow_array::new_null_array(
            schema::arrow_schema().field(3).data_type(),
            batch.num_rows(),
        ),
    };
    let blocked = match batch.column_by_name(column::BLOCKED) {
        Some(c) => c.clone(),
        None => arrow_array::new_null_array(&arrow_schema::DataType::Boolean, batch.num_rows()),
    };
    let nullable_int64 = |name: &str| match batch.column_by_name(name) {
        Some(c) => c.clone(),
        None => arrow_array::new_null_array(&arrow_schema::DataType::Int64, batch.num_rows()),
    };
    RecordBatch::try_new(
        schema::arrow_schema(),
        vec![
            get(column::TIME)?,
            get(column::WAIT_NS)?,
            interval,
            label,
            blocked,
            nullable_int64(column::RUNNABLE_NS),
            nullable_int64(column::HANDOFF_NS),
        ],
    )
    .map_err(|e| e.to_string())
}

/// Turn the parts left by a recording whose process died into a readable trace at `path`.
/// The metadata comes from the newest part (counters up to that part) and is marked recovered.
pub fn recover(path: &Path) -> Result<MergeStats> {
    let parts = parts_dir(path);
    if !parts.is_dir() {
        return Err(TraceError::io(
            &parts,
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no parts to recover ({} does not exist)", parts.display()),
            ),
        ));
    }
    let part_files = list_parts(&parts)?;
    let mut meta = match part_files.last() {
        Some(last) if is_spool(last) => read_spool(last)?.metadata,
        Some(last) => crate::reader::read_file_metadata(last)?,
        None => {
            return Err(TraceError::invalid(
                &parts,
                "no finished parts to recover (the recording died before its first flush)",
            ))
        }
    };
    meta.recovered = true;
    meta.complete = false;
    merge_parts(&parts, path, &meta)
}
