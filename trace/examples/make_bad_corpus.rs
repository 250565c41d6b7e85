//! Writes the analyzer's corpus of malformed and hostile traces (default `testdata/bad`):
//!
//!     cargo run -p gilknocker-trace --example make_bad_corpus -- testdata/bad
//!
//! Files directly in the directory must be refused by every `gilknock-analyze` subcommand (exit
//! 2, one line naming the file). Files in `accepted/` are valid traces with hostile content: they
//! must be analyzed, and every output must stay well-formed. Deterministic (fixed seed, fixed
//! timestamps), so running it again gives the same bytes. See testdata/README.md.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray, TimestampNanosecondArray,
};
use arrow_schema::{Field, Schema};
use gilknocker_trace::{
    merge_parts, parts_dir, RunCounters, RunMetadata, Sample, ScheduleInfo, ScheduleKind,
    TraceWriter,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Repetition, Type as PhysicalType, ZstdLevel};
use parquet::file::metadata::{
    FileMetaData, KeyValue, ParquetMetaData, ParquetMetaDataBuilder, ParquetMetaDataReader,
    ParquetMetaDataWriter,
};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::{SchemaDescriptor, Type};

/// 2023-11-14T22:13:20Z.
const START_NS: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

/// xorshift64: tiny, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn metadata(samples: &[Sample]) -> RunMetadata {
    let schedule = ScheduleInfo {
        kind: ScheduleKind::Continuous,
        polling_interval_ns: MS,
        sampling_interval_ns: None,
        sleeping_interval_ns: None,
        jitter: false,
    };
    let mut meta = RunMetadata::new(schedule, START_NS);
    meta.complete = true;
    meta.recorder_version = "0.5.0".into();
    meta.python_version = "3.12.7".into();
    meta.python_implementation = "CPython".into();
    meta.gil_enabled = Some(true);
    meta.switch_interval_s = 0.005;
    meta.pid = 4242;
    meta.host = "testhost".into();
    meta.argv = vec!["python".into(), "app.py".into()];
    meta.end_time_ns = samples.last().map(|s| s.time_ns + s.wait_ns + MS);
    meta.counters = RunCounters {
        knocks: samples.len() as u64,
        wait_ns_total: samples.iter().map(|s| s.wait_ns as u64).sum(),
        ..RunCounters::default()
    };
    meta
}

fn samples(count: usize) -> Vec<Sample> {
    (0..count as i64)
        .map(|i| Sample {
            time_ns: START_NS + MS + i * MS,
            wait_ns: 200 + (i * 7919) % 3000,
        })
        .collect()
}

/// A finished trace through the real writer.
fn write_trace(path: &Path, meta: &RunMetadata, samples: &[Sample]) {
    let _ = fs::remove_file(path);
    let _ = fs::remove_dir_all(parts_dir(path));
    let mut writer = TraceWriter::create(path).expect("create");
    samples.iter().for_each(|s| writer.push(*s));
    writer.write_part(meta).expect("part");
    merge_parts(&parts_dir(path), path, meta).expect("merge");
}

/// Raw columns with arbitrary key-value metadata (for files the writer would refuse).
fn write_raw(
    path: &Path,
    kv: Option<Vec<(String, String)>>,
    columns: Vec<(&str, ArrayRef)>,
    props: Option<WriterProperties>,
) {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("batch");
    let props = props.unwrap_or_else(|| {
        WriterProperties::builder()
            .set_created_by("gilknocker make_bad_corpus".into())
            .set_key_value_metadata(
                kv.map(|kv| kv.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect()),
            )
            .build()
    });
    let file = File::create(path).expect("create");
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

fn time_array(values: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(values).with_timezone("UTC"))
}

fn int64(values: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

/// The metadata with one key replaced (or removed, with `None`).
fn kv_with(meta: &RunMetadata, key: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut kv: Vec<(String, String)> = meta
        .to_key_values()
        .into_iter()
        .filter(|(k, _)| k != key)
        .collect();
    if let Some(v) = value {
        kv.push((key.to_string(), v.to_string()));
    }
    kv
}

/// Where the footer (Thrift FileMetaData) starts and how long it is.
fn footer(bytes: &[u8]) -> (usize, usize) {
    let n = bytes.len();
    let len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    (n - 8 - len, len)
}

fn read_footer(path: &Path) -> ParquetMetaData {
    let file = File::open(path).expect("open");
    ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .expect("footer")
}

/// `body` (everything before the footer) followed by a footer written from `meta`.
fn with_footer(body: &[u8], meta: &ParquetMetaData) -> Vec<u8> {
    let mut out = body.to_vec();
    ParquetMetaDataWriter::new(&mut out, meta)
        .finish()
        .expect("write footer");
    out
}

fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn read_varint(bytes: &[u8], mut at: usize) -> (u64, usize) {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let b = bytes[at];
        value |= u64::from(b & 0x7f) << shift;
        at += 1;
        if b & 0x80 == 0 {
            return (value, at);
        }
        shift += 7;
    }
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "testdata/bad".into()),
    );
    let accepted = dir.join("accepted");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&accepted).expect("create output directories");
    let scratch = tempfile::tempdir().expect("scratch directory");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);

    // A small, valid trace: the base of the structural damage below.
    let good_samples = samples(50);
    let good_meta = metadata(&good_samples);
    let good_path = scratch.path().join("good.parquet");
    write_trace(&good_path, &good_meta, &good_samples);
    let good = fs::read(&good_path).expect("read good");
    let (footer_start, footer_len) = footer(&good);
    let n = good.len();

    // Truncated at every structural point of the file: inside and after the leading magic,
    // inside the first page header, inside the data, exactly before the footer, inside the
    // footer, before the footer length, before the trailing magic, one byte short.
    let cuts: [(&str, usize); 10] = [
        ("truncated_empty_file", 0),
        ("truncated_in_magic", 2),
        ("truncated_after_magic", 4),
        ("truncated_in_page_header", 7),
        ("truncated_in_data", footer_start / 2),
        ("truncated_before_footer", footer_start),
        ("truncated_in_footer", footer_start + footer_len / 2),
        ("truncated_before_footer_length", n - 8),
        ("truncated_before_end_magic", n - 4),
        ("truncated_last_byte", n - 1),
    ];
    for (name, keep) in cuts {
        fs::write(dir.join(format!("{name}.parquet")), &good[..keep]).expect("write");
    }

    // Random bytes, with and without Parquet's magic at both ends, and a footer length that
    // points before the start of the file.
    fs::write(dir.join("random_bytes.parquet"), rng.bytes(4096)).expect("write");
    let mut framed = b"PAR1".to_vec();
    framed.extend(rng.bytes(4096));
    framed.extend(b"PAR1");
    fs::write(dir.join("random_with_magic.parquet"), &framed).expect("write");
    let mut random_footer = good[..footer_start].to_vec();
    random_footer.extend(rng.bytes(footer_len));
    random_footer.extend(&good[n - 8..]);
    fs::write(dir.join("random_footer.parquet"), &random_footer).expect("write");
    let mut long_footer = good.clone();
    long_footer[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
    fs::write(dir.join("footer_length_past_start.parquet"), &long_footer).expect("write");

    // Parquet, but not the right schema or metadata.
    let times: Vec<i64> = good_samples.iter().map(|s| s.time_ns).collect();
    let waits: Vec<i64> = good_samples.iter().map(|s| s.wait_ns).collect();
    let kv = good_meta.to_key_values();
    write_raw(
        &dir.join("other_schema.parquet"),
        Some(kv.clone()),
        vec![
            ("a", Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef),
            ("b", Arc::new(StringArray::from(vec!["x", "y", "z"]))),
        ],
        None,
    );
    write_raw(
        &dir.join("time_as_int64.parquet"),
        Some(kv.clone()),
        vec![
            ("time", int64(times.clone())),
            ("wait_ns", int64(waits.clone())),
        ],
        None,
    );
    let millis: ArrayRef = Arc::new(
        TimestampMillisecondArray::from(times.iter().map(|t| t / MS).collect::<Vec<_>>())
            .with_timezone("UTC"),
    );
    write_raw(
        &dir.join("time_in_milliseconds.parquet"),
        Some(kv.clone()),
        vec![("time", millis), ("wait_ns", int64(waits.clone()))],
        None,
    );
    let wait_strings: ArrayRef = Arc::new(StringArray::from(
        waits.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
    ));
    write_raw(
        &dir.join("wait_as_string.parquet"),
        Some(kv.clone()),
        vec![
            ("time", time_array(times.clone())),
            ("wait_ns", wait_strings),
        ],
        None,
    );
    write_raw(
        &dir.join("wait_as_float.parquet"),
        Some(kv.clone()),
        vec![
            ("time", time_array(times.clone())),
            (
                "wait_ns",
                Arc::new(Float64Array::from(
                    waits.iter().map(|&w| w as f64).collect::<Vec<_>>(),
                )),
            ),
        ],
        None,
    );
    write_raw(
        &dir.join("wait_column_missing.parquet"),
        Some(kv.clone()),
        vec![("time", time_array(times.clone()))],
        None,
    );
    // Nullable columns holding nulls: the recorder never writes a null.
    let mut null_waits: Vec<Option<i64>> = waits.iter().map(|&w| Some(w)).collect();
    null_waits[3] = None;
    write_raw(
        &dir.join("null_wait.parquet"),
        Some(kv.clone()),
        vec![
            ("time", time_array(times.clone())),
            ("wait_ns", Arc::new(Int64Array::from(null_waits))),
        ],
        None,
    );
    let mut null_times: Vec<Option<i64>> = times.iter().map(|&t| Some(t)).collect();
    null_times[0] = None;
    write_raw(
        &dir.join("null_time.parquet"),
        Some(kv.clone()),
        vec![
            (
                "time",
                Arc::new(TimestampNanosecondArray::from(null_times).with_timezone("UTC")),
            ),
            ("wait_ns", int64(waits.clone())),
        ],
        None,
    );

    // Metadata: missing, wrong format name, versions from the future or nonsense, bad values.
    let good_columns = || {
        vec![
            ("time", time_array(times.clone())),
            ("wait_ns", int64(waits.clone())),
        ]
    };
    write_raw(
        &dir.join("missing_metadata.parquet"),
        None,
        good_columns(),
        None,
    );
    let variants: [(&str, &str, Option<&str>); 9] = [
        (
            "format_name_wrong",
            "gilknocker.format",
            Some("someone-else"),
        ),
        (
            "format_version_future",
            "gilknocker.format_version",
            Some("2"),
        ),
        (
            "format_version_zero",
            "gilknocker.format_version",
            Some("0"),
        ),
        (
            "format_version_negative",
            "gilknocker.format_version",
            Some("-1"),
        ),
        (
            "format_version_absurd",
            "gilknocker.format_version",
            Some("99999999999999999999999"),
        ),
        ("format_version_missing", "gilknocker.format_version", None),
        (
            "polling_interval_negative",
            "gilknocker.polling_interval_ns",
            Some("-1000"),
        ),
        (
            "polling_interval_not_a_number",
            "gilknocker.polling_interval_ns",
            Some("<script>alert(1)</script>"),
        ),
        (
            "schedule_unknown",
            "gilknocker.schedule",
            Some("]]>\"'\u{1b}[2J\u{0}"),
        ),
    ];
    for (name, key, value) in variants {
        write_raw(
            &dir.join(format!("{name}.parquet")),
            Some(kv_with(&good_meta, key, value)),
            good_columns(),
            None,
        );
    }
    // A huge string where a number belongs (1 MiB of markup): refused, and the message must
    // not repeat it in full.
    let huge_markup = "<script>]]>\"'".repeat(1 << 16);
    write_raw(
        &dir.join("huge_string_in_number_field.parquet"),
        Some(kv_with(
            &good_meta,
            "gilknocker.busy_threshold_ns",
            Some(&huge_markup),
        )),
        good_columns(),
        None,
    );

    // Values no recorder writes.
    let mut negative = waits.clone();
    negative[10] = i64::MIN;
    write_raw(
        &dir.join("wait_i64_min.parquet"),
        Some(kv.clone()),
        vec![
            ("time", time_array(times.clone())),
            ("wait_ns", int64(negative)),
        ],
        None,
    );
    let mut absurd = waits.clone();
    absurd[10] = i64::MAX;
    write_raw(
        &dir.join("wait_i64_max.parquet"),
        Some(kv.clone()),
        vec![
            ("time", time_array(times.clone())),
            ("wait_ns", int64(absurd)),
        ],
        None,
    );
    // Decreasing inside one row group (the trace format says time never decreases).
    let mut decreasing = times.clone();
    decreasing.swap(20, 21);
    write_raw(
        &dir.join("time_decreasing.parquet"),
        Some(kv.clone()),
        vec![
            ("time", time_array(decreasing)),
            ("wait_ns", int64(waits.clone())),
        ],
        None,
    );
    let reversed: Vec<i64> = times.iter().rev().copied().collect();
    write_raw(
        &dir.join("time_reversed.parquet"),
        Some(kv.clone()),
        vec![
            ("time", time_array(reversed)),
            ("wait_ns", int64(waits.clone())),
        ],
        None,
    );

    // Footers that lie: billions of rows, a column chunk of 1 PB.
    let base = read_footer(&good_path);
    let body = &good[..footer_start];
    let lie_rows = |rows: i64| {
        let file_meta = base.file_metadata();
        let file_meta = FileMetaData::new(
            file_meta.version(),
            rows,
            file_meta.created_by().map(str::to_string),
            file_meta.key_value_metadata().cloned(),
            file_meta.schema_descr_ptr(),
            None,
        );
        let mut builder = ParquetMetaDataBuilder::new(file_meta);
        for rg in base.row_groups() {
            builder = builder.add_row_group(
                rg.clone()
                    .into_builder()
                    .set_num_rows(rows)
                    .build()
                    .unwrap(),
            );
        }
        builder.build()
    };
    fs::write(
        dir.join("claims_billions_of_rows.parquet"),
        with_footer(body, &lie_rows(5_000_000_000)),
    )
    .expect("write");
    fs::write(
        dir.join("claims_negative_rows.parquet"),
        with_footer(body, &lie_rows(-1)),
    )
    .expect("write");
    let mut builder = ParquetMetaDataBuilder::new(base.file_metadata().clone());
    for rg in base.row_groups() {
        let columns = rg
            .columns()
            .iter()
            .map(|c| {
                c.clone()
                    .into_builder()
                    .set_total_uncompressed_size(1 << 50)
                    .build()
                    .unwrap()
            })
            .collect();
        builder = builder.add_row_group(
            rg.clone()
                .into_builder()
                .set_column_metadata(columns)
                .build()
                .unwrap(),
        );
    }
    fs::write(
        dir.join("claims_huge_column_chunk.parquet"),
        with_footer(body, &builder.build()),
    )
    .expect("write");

    // A dictionary page whose header claims ~2 GB uncompressed: the decoder must not allocate it.
    let dict_path = scratch.path().join("dictionary.parquet");
    write_raw(
        &dict_path,
        Some(kv.clone()),
        good_columns(),
        Some(
            WriterProperties::builder()
                .set_dictionary_enabled(true)
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_key_value_metadata(Some(
                    kv.iter()
                        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                        .collect(),
                ))
                .build(),
        ),
    );
    fs::write(
        dir.join("huge_dictionary_page.parquet"),
        huge_dictionary_page(&dict_path),
    )
    .expect("write");

    // A schema nested 5,000 groups deep, with gilknocker metadata: parsing must not overflow the
    // stack or take forever.
    let mut leaf = Type::primitive_type_builder("wait_ns", PhysicalType::INT64)
        .with_repetition(Repetition::REQUIRED)
        .build()
        .unwrap();
    for depth in 0..5000 {
        leaf = Type::group_type_builder(&format!("g{depth}"))
            .with_repetition(Repetition::OPTIONAL)
            .with_fields(vec![Arc::new(leaf)])
            .build()
            .unwrap();
    }
    let root = Type::group_type_builder("schema")
        .with_fields(vec![Arc::new(leaf)])
        .build()
        .unwrap();
    let deep = FileMetaData::new(
        2,
        0,
        None,
        Some(
            kv.iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                .collect(),
        ),
        Arc::new(SchemaDescriptor::new(Arc::new(root))),
        None,
    );
    fs::write(
        dir.join("deeply_nested_schema.parquet"),
        with_footer(b"PAR1", &ParquetMetaDataBuilder::new(deep).build()),
    )
    .expect("write");

    // Valid traces with hostile content: must be analyzed, outputs must stay well-formed.
    // Equal timestamps are accepted (two knocks within one TIME_RESOLUTION_NS floor to the same
    // time); only decreasing ones are refused.
    let mut duplicate = good_samples.clone();
    for i in (1..duplicate.len()).step_by(2) {
        duplicate[i].time_ns = duplicate[i - 1].time_ns;
    }
    write_trace(
        &accepted.join("duplicate_timestamps.parquet"),
        &metadata(&duplicate),
        &duplicate,
    );
    let mut meta = metadata(&good_samples);
    let hostile = "<script>alert('x')</script>]]><![CDATA[\"double\" 'single' & \u{1b}[31m\u{7}\u{0}\u{1}\r\n\t</svg>";
    meta.host = hostile.repeat(1 << 14); // ~1 MiB
    meta.python_version = hostile.into();
    meta.argv = vec![
        hostile.into(),
        "\"},{\"injected\":1".into(),
        "a,b\n\"c\"".into(),
    ];
    meta.user.insert(hostile.into(), hostile.into());
    meta.user.insert("huge".into(), "x".repeat(1 << 20));
    meta.error = Some(hostile.into());
    write_trace(
        &accepted.join("huge_hostile_metadata.parquet"),
        &meta,
        &good_samples,
    );
    // Extreme but legal values: waits of 0 ns and of 1 s, one knock at the epoch's start.
    let extreme: Vec<Sample> = (0..20)
        .map(|i| Sample {
            time_ns: i * 2_000_000_000,
            wait_ns: if i % 2 == 0 { 0 } else { 1_000_000_000 },
        })
        .collect();
    let mut meta = metadata(&extreme);
    meta.start_time_ns = 0;
    write_trace(&accepted.join("extreme_values.parquet"), &meta, &extreme);
    let one = &good_samples[..1];
    write_trace(&accepted.join("one_row.parquet"), &metadata(one), one);
}

/// Rewrite the first dictionary page header so that it claims 2,000,000,000 uncompressed bytes,
/// and fix the footer's offsets for the bytes the longer header adds.
fn huge_dictionary_page(path: &Path) -> Vec<u8> {
    let bytes = fs::read(path).expect("read");
    let (footer_start, _) = footer(&bytes);
    let meta = read_footer(path);
    let column = meta
        .row_groups()
        .iter()
        .flat_map(|rg| rg.columns())
        .find(|c| c.dictionary_page_offset().is_some())
        .expect("a dictionary page");
    let header = column.dictionary_page_offset().unwrap() as usize;
    // PageHeader in Thrift compact: field 1 (type, i32), field 2 (uncompressed_page_size, i32),
    // each a one-byte field header (0x15) and a zigzag varint.
    assert_eq!(bytes[header], 0x15, "page header field 1");
    let (_, after_type) = read_varint(&bytes, header + 1);
    assert_eq!(bytes[after_type], 0x15, "page header field 2");
    let (_, after_size) = read_varint(&bytes, after_type + 1);
    let mut size = Vec::new();
    varint(2_000_000_000u64 << 1, &mut size);
    let delta = size.len() as i64 - (after_size - after_type - 1) as i64;
    let mut body = bytes[..after_type + 1].to_vec();
    body.extend(&size);
    body.extend(&bytes[after_size..footer_start]);
    let shift = |offset: i64| {
        if offset > header as i64 {
            offset + delta
        } else {
            offset
        }
    };
    let mut builder = ParquetMetaDataBuilder::new(meta.file_metadata().clone());
    for rg in meta.row_groups() {
        let columns = rg
            .columns()
            .iter()
            .map(|c| {
                let grows = c.dictionary_page_offset() == Some(header as i64);
                let mut b = c
                    .clone()
                    .into_builder()
                    .set_data_page_offset(shift(c.data_page_offset()))
                    .set_dictionary_page_offset(c.dictionary_page_offset().map(shift));
                if grows {
                    b = b.set_total_compressed_size(c.compressed_size() + delta);
                }
                b.set_column_index_offset(None)
                    .set_column_index_length(None)
                    .set_offset_index_offset(None)
                    .set_offset_index_length(None)
                    .build()
                    .unwrap()
            })
            .collect();
        builder = builder.add_row_group(
            rg.clone()
                .into_builder()
                .set_column_metadata(columns)
                .build()
                .unwrap(),
        );
    }
    with_footer(&body, &builder.build())
}
