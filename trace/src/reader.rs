//! Reading traces: format checks first, then typed columns one row group at a time.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use std::collections::HashMap;

use arrow_array::types::Int32Type;
use arrow_array::{
    Array, BooleanArray, DictionaryArray, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::file::reader::{ChunkReader, Length};

use crate::error::{Result, TraceError};
use crate::estimate::WaitDetail;
use crate::metadata::RunMetadata;
use crate::schema::column;
use crate::writer::{is_spool, list_parts, parts_dir};

/// A column chunk larger than this (uncompressed) is refused: the recorder never writes one,
/// and a hostile file must not make a reader allocate without bound.
pub const MAX_COLUMN_CHUNK_BYTES: i64 = 512 << 20;
/// Rows decoded at once.
const BATCH_ROWS: usize = 64 * 1024;

/// The samples of one row group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleColumns {
    /// When each knock began, nanoseconds since the Unix epoch, non-decreasing.
    pub time_ns: Vec<i64>,
    /// How long each knock waited for the GIL, nanoseconds, >= 0.
    pub wait_ns: Vec<i64>,
    /// The mean interval each knock was scheduled with, nanoseconds, > 0 (the metadata's
    /// polling interval for traces without the column).
    pub interval_ns: Vec<i64>,
    /// The label active at each knock, as an index into `labels` (None: no label).
    pub label: Vec<Option<u32>>,
    /// The distinct labels of this unit.
    pub labels: Vec<String>,
    /// Whether each long knock blocked on the GIL (see `schema::column::BLOCKED`).
    pub blocked: Vec<Option<bool>>,
    /// How long each long knock's thread was runnable but not running (see
    /// `schema::column::RUNNABLE_NS`).
    pub runnable_ns: Vec<Option<i64>>,
    /// The recorder's estimate of each long knock's hand-off (see
    /// `schema::column::HANDOFF_NS`).
    pub handoff_ns: Vec<Option<i64>>,
}

impl SampleColumns {
    /// The `blocked`, `runnable_ns` and `handoff_ns` of each knock, in order.
    pub fn details(&self) -> impl Iterator<Item = WaitDetail> + '_ {
        (0..self.len()).map(move |i| WaitDetail {
            blocked: self.blocked.get(i).copied().flatten(),
            runnable_ns: self.runnable_ns.get(i).copied().flatten(),
            handoff_ns: self.handoff_ns.get(i).copied().flatten(),
        })
    }

    pub fn len(&self) -> usize {
        self.time_ns.len()
    }
    pub fn is_empty(&self) -> bool {
        self.time_ns.is_empty()
    }
}

#[derive(Debug, Clone)]
struct Source {
    path: PathBuf,
    kind: SourceKind,
    /// Used when the file has no `interval_ns` column.
    default_interval_ns: i64,
}

#[derive(Debug, Clone)]
enum SourceKind {
    Parquet {
        arrow: ArrowReaderMetadata,
        projection: ProjectionMask,
    },
    /// The spool of a recording in progress, decoded when opened (it is small).
    Spool(Arc<SampleColumns>),
}

/// One unit of reading: a row group of one file.
#[derive(Debug, Clone, Copy)]
struct Unit {
    source: usize,
    row_group: usize,
    rows: i64,
    /// Index of the unit's first row within its file (for error messages).
    first_row: i64,
}

/// An open trace: a finished file, or the parts of a recording that did not finish.
#[derive(Debug, Clone)]
pub struct TraceReader {
    path: PathBuf,
    metadata: RunMetadata,
    sources: Vec<Source>,
    units: Vec<Unit>,
    from_parts: bool,
}

impl TraceReader {
    /// Open a trace and check that gilknocker wrote it in a version this reader understands.
    ///
    /// `path` may also be the `.parts` directory of a recording in progress or of a process that
    /// died, or a trace path whose file is missing but whose parts exist: those are read as they
    /// are (metadata from the newest part, marked not complete).
    pub fn open(path: &Path) -> Result<Self> {
        if path.is_dir() {
            let parts = list_parts(path)?;
            if parts.is_empty() {
                return Err(TraceError::io(
                    path,
                    io::Error::from_raw_os_error(libc::EISDIR),
                ));
            }
            return Self::open_parts(path, path, parts);
        }
        if !path.exists() {
            let parts_path = parts_dir(path);
            if parts_path.is_dir() {
                let parts = list_parts(&parts_path)?;
                if !parts.is_empty() {
                    return Self::open_parts(path, &parts_path, parts);
                }
                return Err(TraceError::Unfinalized {
                    path: path.to_path_buf(),
                    parts: parts_path,
                });
            }
        }
        let (source, metadata) = open_source(path)?;
        let mut reader = TraceReader {
            path: path.to_path_buf(),
            metadata,
            sources: Vec::new(),
            units: Vec::new(),
            from_parts: false,
        };
        reader.add_source(source)?;
        Ok(reader)
    }

    /// Open the files `list_parts(dir)` gave. A recording in progress turns its spool into a
    /// part now and then, so a spool listed a moment ago may be gone: then list again.
    fn open_parts(path: &Path, dir: &Path, mut parts: Vec<PathBuf>) -> Result<Self> {
        let mut attempts = 0;
        loop {
            match Self::open_listed(path, &parts) {
                Err(e) if attempts < 3 && e.io_kind() == Some(io::ErrorKind::NotFound) => {
                    attempts += 1;
                    parts = list_parts(dir)?;
                    if parts.is_empty() {
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
    }

    fn open_listed(path: &Path, parts: &[PathBuf]) -> Result<Self> {
        let mut reader: Option<TraceReader> = None;
        for part in parts {
            let (source, metadata) = if is_spool(part) {
                open_spool(part)?
            } else {
                open_source(part)?
            };
            let r = reader.get_or_insert_with(|| TraceReader {
                path: path.to_path_buf(),
                metadata: metadata.clone(),
                sources: Vec::new(),
                units: Vec::new(),
                from_parts: true,
            });
            // Counters grow part by part: the newest part knows the most.
            r.metadata = metadata;
            r.add_source(source)?;
        }
        let mut reader = reader.expect("at least one part");
        reader.metadata.complete = false;
        Ok(reader)
    }

    fn add_source(&mut self, source: Source) -> Result<()> {
        let index = self.sources.len();
        let arrow = match &source.kind {
            SourceKind::Parquet { arrow, .. } => arrow,
            SourceKind::Spool(columns) => {
                if !columns.is_empty() {
                    self.units.push(Unit {
                        source: index,
                        row_group: 0,
                        rows: columns.len() as i64,
                        first_row: 0,
                    });
                }
                self.sources.push(source);
                return Ok(());
            }
        };
        let mut first_row = 0i64;
        for (row_group, rg) in arrow.metadata().row_groups().iter().enumerate() {
            let rows = rg.num_rows();
            if rows < 0 {
                return Err(TraceError::invalid(
                    &source.path,
                    format!("row group {row_group} claims {rows} rows"),
                ));
            }
            for chunk in rg.columns() {
                if chunk.uncompressed_size() > MAX_COLUMN_CHUNK_BYTES
                    || chunk.uncompressed_size() < 0
                    || chunk.compressed_size() < 0
                {
                    return Err(TraceError::invalid(
                        &source.path,
                        format!(
                            "row group {row_group} claims a column chunk of {} bytes (limit {} bytes)",
                            chunk.uncompressed_size(),
                            MAX_COLUMN_CHUNK_BYTES
                        ),
                    ));
                }
            }
            self.units.push(Unit {
                source: index,
                row_group,
                rows,
                first_row,
            });
            first_row = first_row.saturating_add(rows);
        }
        self.sources.push(source);
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn metadata(&self) -> &RunMetadata {
        &self.metadata
    }

    /// True when read from the parts of an unfinished recording.
    pub fn from_parts(&self) -> bool {
        self.from_parts
    }

    /// Rows the file metadata announces.
    pub fn num_rows(&self) -> i64 {
        self.units
            .iter()
            .map(|u| u.rows)
            .fold(0i64, i64::saturating_add)
    }

    /// Number of independently readable units (row groups); read them in any order, from any
    /// thread, with [`Self::read_unit`].
    pub fn num_units(&self) -> usize {
        self.units.len()
    }

    /// Rows announced for unit `index`.
    pub fn unit_rows(&self, index: usize) -> i64 {
        self.units[index].rows
    }

    /// Decode one unit. Checks that values are present, waits are not negative and timestamps
    /// do not go backwards within the unit.
    pub fn read_unit(&self, index: usize) -> Result<SampleColumns> {
        // The Parquet decoder can panic on some corrupt pages (found by fuzzing); a corrupt
        // file must give an error, never take the reader's process down.
        let unit = self.units[index];
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.decode_unit(unit))) {
            Ok(result) => result,
            Err(_) => Err(TraceError::invalid(
                &self.sources[unit.source].path,
                format!(
                    "row group {} is corrupt (the decoder failed)",
                    unit.row_group
                ),
            )),
        }
    }

    fn decode_unit(&self, unit: Unit) -> Result<SampleColumns> {
        let source = &self.sources[unit.source];
        let path = &source.path;
        let (arrow, projection) = match &source.kind {
            SourceKind::Parquet { arrow, projection } => (arrow, projection),
            SourceKind::Spool(columns) => return Ok(columns.as_ref().clone()),
        };
        let file = File::open(path).map_err(|e| TraceError::io(path, e))?;
        let len = file.metadata().map_err(|e| TraceError::io(path, e))?.len();
        let batch_rows = usize::try_from(unit.rows)
            .unwrap_or(BATCH_ROWS)
            .clamp(1, BATCH_ROWS);
        let budgeted = BudgetedFile::new(file, len);
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(budgeted, arrow.clone())
            .with_projection(projection.clone())
            .with_row_groups(vec![unit.row_group])
            .with_batch_size(batch_rows)
            .build()
            .map_err(|e| TraceError::parquet(path, e))?;
        let capacity = usize::try_from(unit.rows).unwrap_or(0).min(1 << 24);
        let mut out = SampleColumns {
            time_ns: Vec::with_capacity(capacity),
            wait_ns: Vec::with_capacity(capacity),
            interval_ns: Vec::with_capacity(capacity),
            label: Vec::with_capacity(capacity),
            labels: Vec::new(),
            blocked: Vec::with_capacity(capacity),
            runnable_ns: Vec::with_capacity(capacity),
            handoff_ns: Vec::with_capacity(capacity),
        };
        let mut label_index: HashMap<String, u32> = HashMap::new();
        for batch in reader {
            let batch = batch.map_err(|e| TraceError::parquet(path, e))?;
            append_all(
                path,
                &batch,
                &mut out,
                unit.first_row,
                source.default_interval_ns,
                &mut label_index,
            )?;
            if out.len() as i64 > unit.rows {
                return Err(TraceError::invalid(
                    path,
                    format!(
                        "row group {} holds more rows than its metadata claims ({})",
                        unit.row_group, unit.rows
                    ),
                ));
            }
        }
        if (out.len() as i64) != unit.rows {
            return Err(TraceError::invalid(
                path,
                format!(
                    "row group {} holds {} rows but its metadata claims {}",
                    unit.row_group,
                    out.len(),
                    unit.rows
                ),
            ));
        }
        Ok(out)
    }

    /// Read every unit in order (convenient for small traces and tests).
    pub fn read_all(&self) -> Result<SampleColumns> {
        let mut all = SampleColumns::default();
        for i in 0..self.num_units() {
            let unit = self.read_unit(i)?;
            if let (Some(&last), Some(&first)) = (all.time_ns.last(), unit.time_ns.first()) {
                if first < last {
                    return Err(TraceError::invalid(
                        &self.path,
                        format!("timestamps go backwards between row groups ({last} then {first})"),
                    ));
                }
            }
            all.time_ns.extend_from_slice(&unit.time_ns);
            all.wait_ns.extend_from_slice(&unit.wait_ns);
            all.interval_ns.extend_from_slice(&unit.interval_ns);
            // Re-key this unit's labels into the combined dictionary.
            let remap: Vec<u32> = unit
                .labels
                .iter()
                .map(|name| match all.labels.iter().position(|l| l == name) {
                    Some(i) => i as u32,
                    None => {
                        all.labels.push(name.clone());
                        (all.labels.len() - 1) as u32
                    }
                })
                .collect();
            all.label
                .extend(unit.label.iter().map(|k| k.map(|k| remap[k as usize])));
            all.blocked.extend_from_slice(&unit.blocked);
            all.runnable_ns.extend_from_slice(&unit.runnable_ns);
            all.handoff_ns.extend_from_slice(&unit.handoff_ns);
        }
        Ok(all)
    }
}

/// Append every column of `batch` to `out`.
fn append_all(
    path: &Path,
    batch: &RecordBatch,
    out: &mut SampleColumns,
    first_row: i64,
    default_interval_ns: i64,
    label_index: &mut HashMap<String, u32>,
) -> Result<()> {
    append_batch(path, batch, out, first_row, default_interval_ns)?;
    append_labels(path, batch, out, label_index)?;
    append_nullable::<BooleanArray, _>(path, batch, column::BLOCKED, "Boolean", &mut out.blocked)?;
    append_nullable::<Int64Array, _>(
        path,
        batch,
        column::RUNNABLE_NS,
        "Int64",
        &mut out.runnable_ns,
    )?;
    append_nullable::<Int64Array, _>(
        path,
        batch,
        column::HANDOFF_NS,
        "Int64",
        &mut out.handoff_ns,
    )
}

/// Open a spool: decode its complete batches now, with the checks every row group gets.
fn open_spool(path: &Path) -> Result<(Source, RunMetadata)> {
    let spool = crate::spool::read_spool(path)?;
    let default_interval_ns = spool.metadata.schedule.polling_interval_ns;
    let mut columns = SampleColumns::default();
    let mut label_index = HashMap::new();
    for batch in &spool.batches {
        append_all(
            path,
            batch,
            &mut columns,
            0,
            default_interval_ns,
            &mut label_index,
        )?;
    }
    Ok((
        Source {
            path: path.to_path_buf(),
            kind: SourceKind::Spool(Arc::new(columns)),
            default_interval_ns,
        },
        spool.metadata,
    ))
}

fn append_batch(
    path: &Path,
    batch: &RecordBatch,
    out: &mut SampleColumns,
    first_row: i64,
    default_interval_ns: i64,
) -> Result<()> {
    let time = batch
        .column_by_name(column::TIME)
        .and_then(|c| c.as_any().downcast_ref::<TimestampNanosecondArray>())
        .ok_or_else(|| TraceError::invalid(path, "column 'time' could not be decoded"))?;
    let wait = batch
        .column_by_name(column::WAIT_NS)
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .ok_or_else(|| TraceError::invalid(path, "column 'wait_ns' could not be decoded"))?;
    if time.null_count() > 0 || wait.null_count() > 0 {
        return Err(TraceError::invalid(
            path,
            "missing values (nulls) in 'time' or 'wait_ns'",
        ));
    }
    let base = first_row + out.len() as i64;
    let mut previous = out.time_ns.last().copied().unwrap_or(i64::MIN);
    for (i, &t) in time.values().iter().enumerate() {
        if t < previous {
            return Err(TraceError::invalid(
                path,
                format!("timestamps go backwards at row {}", base + i as i64),
            ));
        }
        previous = t;
    }
    if let Some(i) = wait.values().iter().position(|&w| w < 0) {
        return Err(TraceError::invalid(
            path,
            format!(
                "negative wait_ns ({}) at row {}",
                wait.values()[i],
                base + i as i64
            ),
        ));
    }
    match batch.column_by_name(column::INTERVAL_NS) {
        Some(column) => {
            let interval = column
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| {
                    TraceError::invalid(path, "column 'interval_ns' could not be decoded")
                })?;
            if interval.null_count() > 0 {
                return Err(TraceError::invalid(
                    path,
                    "missing values (nulls) in 'interval_ns'",
                ));
            }
            if let Some(i) = interval.values().iter().position(|&v| v <= 0) {
                return Err(TraceError::invalid(
                    path,
                    format!(
                        "interval_ns must be positive, found {} at row {}",
                        interval.values()[i],
                        base + i as i64
                    ),
                ));
            }
            out.interval_ns.extend_from_slice(interval.values());
        }
        None => out
            .interval_ns
            .extend(std::iter::repeat_n(default_interval_ns, batch.num_rows())),
    }
    out.time_ns.extend_from_slice(time.values());
    out.wait_ns.extend_from_slice(wait.values());
    Ok(())
}

/// Append an optional nullable column: absent means null for every row.
fn append_nullable<A, T>(
    path: &Path,
    batch: &RecordBatch,
    name: &str,
    type_name: &str,
    out: &mut Vec<Option<T>>,
) -> Result<()>
where
    A: Array + 'static,
    for<'a> &'a A: IntoIterator<Item = Option<T>>,
    T: Clone,
{
    match batch.column_by_name(name) {
        None => out.extend(std::iter::repeat_n(None, batch.num_rows())),
        Some(column) => {
            let values = column.as_any().downcast_ref::<A>().ok_or_else(|| {
                TraceError::invalid(path, format!("column '{name}' must be {type_name}"))
            })?;
            out.extend(values);
        }
    }
    Ok(())
}

fn append_labels(
    path: &Path,
    batch: &RecordBatch,
    out: &mut SampleColumns,
    index: &mut HashMap<String, u32>,
) -> Result<()> {
    let Some(column) = batch.column_by_name(column::LABEL) else {
        out.label
            .extend(std::iter::repeat_n(None, batch.num_rows()));
        return Ok(());
    };
    let mut lookup = |name: &str, out: &mut SampleColumns| match index.get(name) {
        Some(&key) => key,
        None => {
            let key = out.labels.len() as u32;
            out.labels.push(name.to_string());
            index.insert(name.to_string(), key);
            key
        }
    };
    if let Some(strings) = column.as_any().downcast_ref::<StringArray>() {
        for i in 0..strings.len() {
            let key = (!strings.is_null(i)).then(|| lookup(strings.value(i), out));
            out.label.push(key);
        }
        return Ok(());
    }
    let dict = column
        .as_any()
        .downcast_ref::<DictionaryArray<Int32Type>>()
        .ok_or_else(|| TraceError::invalid(path, "column 'label' could not be decoded"))?;
    let values = dict
        .values()
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| TraceError::invalid(path, "column 'label' must hold strings"))?;
    // Map this batch's dictionary onto the unit's.
    let mut remap: Vec<Option<u32>> = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        if values.is_null(i) {
            remap.push(None);
            continue;
        }
        remap.push(Some(lookup(values.value(i), out)));
    }
    for key in dict.keys_iter() {
        let mapped = match key {
            None => None,
            Some(k) => *remap.get(k).ok_or_else(|| {
                TraceError::invalid(path, "column 'label' has a key outside its dictionary")
            })?,
        };
        out.label.push(mapped);
    }
    Ok(())
}

/// A file for the Parquet decoder with an I/O budget. Some corrupt pages make parquet's page
/// reader loop forever on reads at the end of the file (found by fuzzing); every read call
/// costs at least 4 KiB of a budget of 4x the file size + 16 MiB, so such a loop ends in an
/// error after a few thousand calls while an honest read of a row group never comes close.
struct BudgetedFile {
    file: File,
    budget: Arc<AtomicI64>,
}

impl BudgetedFile {
    fn new(file: File, len: u64) -> Self {
        let budget = (len as i64).saturating_mul(4).saturating_add(16 << 20);
        BudgetedFile {
            file,
            budget: Arc::new(AtomicI64::new(budget)),
        }
    }
}

struct BudgetedRead<R> {
    inner: R,
    budget: Arc<AtomicI64>,
}

impl<R: Read> Read for BudgetedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let cost = n.max(4096) as i64;
        if self.budget.fetch_sub(cost, Ordering::Relaxed) < cost {
            return Err(io::Error::other(
                "the pages never end (corrupt page headers): read far more than the file holds",
            ));
        }
        Ok(n)
    }
}

impl Length for BudgetedFile {
    fn len(&self) -> u64 {
        Length::len(&self.file)
    }
}

impl ChunkReader for BudgetedFile {
    type T = BudgetedRead<BufReader<File>>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(BudgetedRead {
            inner: self.file.get_read(start)?,
            budget: self.budget.clone(),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        let cost = length.max(4096) as i64;
        if self.budget.fetch_sub(cost, Ordering::Relaxed) < cost {
            return Err(parquet::errors::ParquetError::General(
                "read far more than the file holds (corrupt page headers)".into(),
            ));
        }
        self.file.get_bytes(start, length)
    }
}

fn open_source(path: &Path) -> Result<(Source, RunMetadata)> {
    let file = File::open(path).map_err(|e| TraceError::io(path, e))?;
    let len = file.metadata().map_err(|e| TraceError::io(path, e))?.len();
    if len < 12 {
        return Err(TraceError::NotParquet {
            path: path.to_path_buf(),
            detail: format!("file is only {len} bytes"),
        });
    }
    let footer_len = footer_length(&file, len).map_err(|detail| TraceError::NotParquet {
        path: path.to_path_buf(),
        detail,
    })?;
    if footer_len > MAX_FOOTER_BYTES {
        return Err(TraceError::invalid(
            path,
            format!(
                "its metadata takes {footer_len} bytes, more than a trace needs (limit {MAX_FOOTER_BYTES})"
            ),
        ));
    }
    // The Arrow schema blob in the metadata is not needed (the Parquet types say it all) and a
    // hostile file could put anything there: skip it.
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    // parquet builds the schema tree recursively, one stack frame per nesting level: a hostile
    // file with thousands of nested groups overflows an ordinary stack and aborts the process
    // (the user's, for gilknocker.load). Parse on a thread whose stack the footer's size bounds
    // (measured: under 1.6 KB per level, over 12 footer bytes per level, release build).
    let per_byte = if cfg!(debug_assertions) { 2048 } else { 256 };
    let stack = (8 << 20) + footer_len as usize * per_byte;
    let loaded = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("gilknocker-trace-metadata".into())
            .stack_size(stack)
            .spawn_scoped(scope, || ArrowReaderMetadata::load(&file, options))
            .map(|handle| handle.join())
    });
    let arrow = match loaded {
        Ok(Ok(Ok(arrow))) => arrow,
        Ok(Ok(Err(e))) => {
            return Err(TraceError::NotParquet {
                path: path.to_path_buf(),
                detail: one_line(&e.to_string()),
            })
        }
        Ok(Err(_)) => {
            return Err(TraceError::invalid(
                path,
                "corrupt metadata (the decoder failed)",
            ))
        }
        Err(e) => return Err(TraceError::io(path, e)),
    };
    let kv = arrow
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|k| (k.key.as_str(), k.value.as_deref()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let metadata = RunMetadata::from_key_values(path, kv)?;
    let schema = arrow.schema();
    let find = |name: &str| {
        schema
            .index_of(name)
            .map_err(|_| TraceError::invalid(path, format!("column '{name}' is missing")))
    };
    let time_index = find(column::TIME)?;
    let wait_index = find(column::WAIT_NS)?;
    match schema.field(time_index).data_type() {
        DataType::Timestamp(TimeUnit::Nanosecond, Some(tz)) if is_utc(tz) => {}
        other => {
            return Err(TraceError::invalid(
                path,
                format!("column 'time' must be Timestamp(ns, UTC), found {other}"),
            ))
        }
    }
    match schema.field(wait_index).data_type() {
        DataType::Int64 => {}
        other => {
            return Err(TraceError::invalid(
                path,
                format!("column 'wait_ns' must be Int64, found {other}"),
            ))
        }
    }
    let mut roots = vec![time_index, wait_index];
    // Optional columns: absent is fine, present with another type is not.
    for (name, expected, type_name) in [
        (column::BLOCKED, DataType::Boolean, "Boolean"),
        (column::RUNNABLE_NS, DataType::Int64, "Int64"),
        (column::HANDOFF_NS, DataType::Int64, "Int64"),
        (column::INTERVAL_NS, DataType::Int64, "Int64"),
    ] {
        if let Ok(index) = schema.index_of(name) {
            let found = schema.field(index).data_type();
            if *found != expected {
                return Err(TraceError::invalid(
                    path,
                    format!("column '{name}' must be {type_name}, found {found}"),
                ));
            }
            roots.push(index);
        }
    }
    if let Ok(label_index) = schema.index_of(column::LABEL) {
        match schema.field(label_index).data_type() {
            // Without the (skipped) Arrow schema blob, labels read back as plain strings.
            DataType::Utf8 => roots.push(label_index),
            DataType::Dictionary(key, value)
                if **key == DataType::Int32 && **value == DataType::Utf8 =>
            {
                roots.push(label_index)
            }
            other => {
                return Err(TraceError::invalid(
                    path,
                    format!("column 'label' must hold strings, found {other}"),
                ))
            }
        }
    }
    let projection = ProjectionMask::roots(arrow.parquet_schema(), roots);
    Ok((
        Source {
            path: path.to_path_buf(),
            kind: SourceKind::Parquet { arrow, projection },
            default_interval_ns: metadata.schedule.polling_interval_ns,
        },
        metadata,
    ))
}

/// Footers larger than this are refused: a trace's is a few KB (a huge argv stays far below).
pub const MAX_FOOTER_BYTES: u64 = 4 << 20;

/// The footer length from the last 8 bytes (length, then the "PAR1" magic).
fn footer_length(file: &File, len: u64) -> std::result::Result<u64, String> {
    use std::os::unix::fs::FileExt;
    let mut tail = [0u8; 8];
    file.read_exact_at(&mut tail, len - 8)
        .map_err(|e| format!("cannot read its end: {e}"))?;
    if &tail[4..] != b"PAR1" {
        return Err("no Parquet footer magic at the end".to_string());
    }
    let footer = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
    if footer + 8 > len {
        return Err(format!(
            "footer length {footer} exceeds the file size {len}"
        ));
    }
    Ok(footer)
}

fn is_utc(tz: &str) -> bool {
    matches!(tz, "UTC" | "+00:00" | "Z" | "Etc/UTC")
}

fn one_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

/// The run metadata of a single trace file (no samples are read).
pub fn read_file_metadata(path: &Path) -> Result<RunMetadata> {
    open_source(path).map(|(_, meta)| meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Sample, ScheduleInfo, TraceWriter};

    /// A reader of a recording in progress may list the spool just before the writer turns it
    /// into a part and removes it: it lists again instead of failing.
    #[test]
    fn a_spool_gone_since_the_listing_is_looked_up_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.parquet");
        let meta = RunMetadata::new(ScheduleInfo::continuous(1_000_000, true), 0);
        let mut writer = TraceWriter::create(&path).unwrap();
        writer.write_header(&meta).unwrap();
        for i in 0..10 {
            writer.push(Sample {
                time_ns: i,
                wait_ns: 1,
            });
        }
        writer.flush(&meta).unwrap();
        let parts = parts_dir(&path);
        // As listed a moment before the spool became part 2.
        let stale = vec![
            parts.join("part-000001.parquet"),
            parts.join(".spool-000002.arrows"),
        ];
        writer.write_part(&meta).unwrap();
        let reader = TraceReader::open_parts(&path, &parts, stale).unwrap();
        assert_eq!(reader.read_all().unwrap().len(), 10);
    }
}
