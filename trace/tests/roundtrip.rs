use std::fs;
use std::path::Path;

use gilknocker_trace::schema::{key, FORMAT_VERSION};
use gilknocker_trace::{
    merge_parts_with_row_groups, parts_dir, recover, RunMetadata, Sample, ScheduleInfo,
    ScheduleKind, TraceError, TraceReader, TraceWriter, WaitDetail,
};
use proptest::prelude::*;

fn meta() -> RunMetadata {
    let mut m = RunMetadata::new(
        ScheduleInfo {
            kind: ScheduleKind::Continuous,
            polling_interval_ns: 1_000_000,
            sampling_interval_ns: None,
            sleeping_interval_ns: None,
            jitter: true,
        },
        1_700_000_000_000_000_000,
    );
    m.python_version = "3.11.7".into();
    m.argv = vec!["prog.py".into(), "--flag=\"x\"".into(), "<script>".into()];
    m.switch_interval_s = 0.005;
    m.gil_enabled = Some(true);
    m.user.insert("label".into(), "nightly".into());
    m
}

fn samples(n: usize) -> Vec<Sample> {
    (0..n)
        .map(|i| Sample {
            time_ns: 1_700_000_000_000_000_000 + i as i64 * 1_000_123,
            wait_ns: ((i * 7919) % 6_000_000) as i64,
        })
        .collect()
}

fn write(path: &Path, samples: &[Sample], per_part: usize, meta: &RunMetadata) {
    let mut w = TraceWriter::create(path).unwrap();
    for chunk in samples.chunks(per_part.max(1)) {
        for s in chunk {
            w.push(*s);
        }
        w.write_part(meta).unwrap();
    }
    let mut done = meta.clone();
    done.complete = true;
    done.end_time_ns = Some(meta.start_time_ns + 1);
    w.finish(&done).unwrap();
}

fn read(path: &Path) -> (RunMetadata, Vec<Sample>) {
    let r = TraceReader::open(path).unwrap();
    let all = r.read_all().unwrap();
    let s = all
        .time_ns
        .iter()
        .zip(&all.wait_ns)
        .map(|(&time_ns, &wait_ns)| Sample { time_ns, wait_ns })
        .collect();
    (r.metadata().clone(), s)
}

#[test]
fn empty_trace_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.parquet");
    write(&path, &[], 10, &meta());
    let (m, s) = read(&path);
    assert!(s.is_empty());
    assert!(m.complete);
    assert_eq!(m.argv, meta().argv);
    assert!(
        !parts_dir(&path).exists(),
        "parts directory removed after finish"
    );
}

#[test]
fn one_row_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.parquet");
    let one = samples(1);
    write(&path, &one, 10, &meta());
    let (m, s) = read(&path);
    assert_eq!(s, one);
    assert_eq!(m.user.get("label").map(String::as_str), Some("nightly"));
    assert_eq!(m.gil_enabled, Some(true));
    assert_eq!(m.switch_interval_s, 0.005);
}

#[test]
fn many_row_groups_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.parquet");
    let all = samples(25_000);
    let mut w = TraceWriter::create(&path).unwrap();
    for chunk in all.chunks(3_000) {
        chunk.iter().for_each(|s| w.push(*s));
        w.write_part(&meta()).unwrap();
    }
    drop(w);
    // Merge with small row groups so the file has several.
    merge_parts_with_row_groups(&parts_dir(&path), &path, &meta(), 4_096).unwrap();
    let r = TraceReader::open(&path).unwrap();
    assert_eq!(r.num_units(), 7);
    assert_eq!(r.num_rows(), 25_000);
    let (_, s) = read(&path);
    assert_eq!(s, all);
}

#[test]
fn bytes_per_sample_is_small_for_realistic_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("size.parquet");
    // Shaped like a real recording (docs: 3.5 bytes/sample measured on `gilknocker demo`):
    // exponential knock intervals with a 1 ms mean, phases of free GIL (waits of 70 ns to
    // 1.3 µs) alternating with busy phases (waits up to a few switch intervals).
    let mut state = 12345u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut t = 1_700_000_000_000_000_000i64;
    let mut busy = false;
    let data: Vec<Sample> = (0..200_000)
        .map(|_| {
            // A knock that waits covers several slots, so busy phases hold few samples: free
            // phases last 170 samples on average, busy ones 30.
            if next() % (if busy { 30 } else { 170 }) == 0 {
                busy = !busy;
            }
            let u = (next() % 1_000_000 + 1) as f64 / 1e6;
            t += (-u.ln() * 1e6) as i64;
            let wait_ns = if busy {
                (next() % 15_000_000) as i64
            } else {
                70 + (next() % 1_200) as i64
            };
            // As the recorder writes them: start times floored to the format's resolution.
            Sample {
                time_ns: gilknocker_trace::schema::quantize_time(t),
                wait_ns,
            }
        })
        .collect();
    write(&path, &data, 500, &meta());
    let bytes = fs::metadata(&path).unwrap().len() as f64;
    let per_sample = bytes / data.len() as f64;
    // A regression guard for the encodings: 4.24 bytes/sample on this synthetic mix (uniform
    // busy waits are harsher than real ones, which cluster at switch-interval multiples).
    assert!(per_sample < 4.5, "{per_sample} bytes per sample");
}

#[test]
fn unfinished_recording_reads_from_parts_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.parquet");
    let all = samples(1_000);
    let mut w = TraceWriter::create(&path).unwrap();
    let mut m = meta();
    for chunk in all.chunks(300) {
        chunk.iter().for_each(|s| w.push(*s));
        m.counters.knocks += chunk.len() as u64;
        w.write_part(&m).unwrap();
    }
    // Samples buffered but never written are lost, as after SIGKILL.
    w.push(Sample {
        time_ns: i64::MAX,
        wait_ns: 1,
    });
    std::mem::forget(w);
    assert!(!path.exists());

    let r = TraceReader::open(&path).unwrap();
    assert!(r.from_parts());
    assert!(!r.metadata().complete);
    assert_eq!(r.metadata().counters.knocks, 1_000);
    assert_eq!(r.read_all().unwrap().time_ns.len(), 1_000);

    let stats = recover(&path).unwrap();
    assert_eq!((stats.parts, stats.rows), (4, 1_000));
    let (m, s) = read(&path);
    assert!(m.recovered && !m.complete);
    assert_eq!(s, all);
    assert!(!parts_dir(&path).exists());
}

#[test]
fn create_fails_early_with_os_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/x.parquet");
    let err = TraceWriter::create(&missing).unwrap_err();
    assert_eq!(err.io_kind(), Some(std::io::ErrorKind::NotFound), "{err}");
    let err = TraceWriter::create(dir.path()).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EISDIR), "{err}");
    // Never replace a device or a FIFO (or follow a symlink) at the end.
    let err = TraceWriter::create(Path::new("/dev/null")).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    let link = dir.path().join("link.parquet");
    std::os::unix::fs::symlink("/tmp/elsewhere.parquet", &link).unwrap();
    assert!(TraceWriter::create(&link)
        .unwrap_err()
        .to_string()
        .contains("symbolic link"));
    let path = dir.path().join("twice.parquet");
    let _first = TraceWriter::create(&path).unwrap();
    let err = TraceWriter::create(&path).unwrap_err();
    assert_eq!(err.io_kind(), Some(std::io::ErrorKind::AlreadyExists));
    assert!(err.to_string().contains("recover"), "{err}");
}

fn write_raw(path: &Path, kv: Vec<(String, String)>) {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch};
    use std::sync::Arc;
    let kv = kv
        .into_iter()
        .map(|(k, v)| parquet::file::metadata::KeyValue::new(k, v))
        .collect();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(Some(kv))
        .build();
    let col: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
    let batch = RecordBatch::try_from_iter([("wait_ns", col)]).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        fs::File::create(path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn format_checks_give_human_messages() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("foreign.parquet");
    write_raw(&foreign, vec![]);
    let err = TraceReader::open(&foreign).unwrap_err();
    assert!(matches!(err, TraceError::NotGilknocker { .. }));
    assert!(
        err.to_string()
            .contains("foreign.parquet was not written by gilknocker"),
        "{err}"
    );

    let newer = dir.path().join("newer.parquet");
    let mut kv = meta().to_key_values();
    for (k, v) in kv.iter_mut() {
        if k == key::FORMAT_VERSION {
            *v = (FORMAT_VERSION + 1).to_string();
        }
    }
    write_raw(&newer, kv);
    let err = TraceReader::open(&newer).unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "format version {} is newer than this reader",
            FORMAT_VERSION + 1
        )),
        "{err}"
    );

    let missing_column = dir.path().join("nocol.parquet");
    write_raw(&missing_column, meta().to_key_values());
    let err = TraceReader::open(&missing_column).unwrap_err();
    assert!(
        err.to_string().contains("column 'time' is missing"),
        "{err}"
    );

    let text = dir.path().join("text.parquet");
    fs::write(&text, "hello, this is not parquet at all").unwrap();
    let err = TraceReader::open(&text).unwrap_err();
    assert!(matches!(err, TraceError::NotParquet { .. }), "{err}");
    assert!(err.to_string().starts_with(&text.display().to_string()));

    let err = TraceReader::open(&dir.path().join("absent.parquet")).unwrap_err();
    assert_eq!(err.io_kind(), Some(std::io::ErrorKind::NotFound));
}

#[test]
fn truncated_files_are_refused_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.parquet");
    write(&path, &samples(5_000), 1_000, &meta());
    let bytes = fs::read(&path).unwrap();
    for cut in [
        0,
        4,
        11,
        100,
        bytes.len() / 2,
        bytes.len() - 9,
        bytes.len() - 1,
    ] {
        let cut_path = dir.path().join(format!("cut{cut}.parquet"));
        fs::write(&cut_path, &bytes[..cut]).unwrap();
        assert!(TraceReader::open(&cut_path)
            .and_then(|r| r.read_all())
            .is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn any_samples_round_trip(
        start in 0i64..2_000_000_000_000_000_000,
        steps in prop::collection::vec((0i64..10_000_000_000, 0i64..i64::MAX / 4), 0..2_000),
        per_part in 1usize..700,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.parquet");
        let mut t = start;
        let data: Vec<Sample> = steps.iter().map(|&(dt, wait_ns)| { t += dt; Sample { time_ns: t, wait_ns } }).collect();
        write(&path, &data, per_part, &meta());
        let (m, s) = read(&path);
        prop_assert_eq!(s, data);
        prop_assert_eq!(m.argv, meta().argv);
    }
}

#[test]
fn a_page_that_makes_the_decoder_panic_is_an_error() {
    // testdata/corrupt_page.parquet: one flipped byte that panics the Parquet decoder
    // (found by the analyzer's robustness property test).
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/corrupt_page.parquet");
    let result = TraceReader::open(&path).and_then(|r| r.read_all());
    let err = result.unwrap_err();
    assert!(err.to_string().contains("corrupt_page.parquet"), "{err}");
}

#[test]
fn labels_round_trip_and_unlabelled_knocks_read_as_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.parquet");
    let mut w = TraceWriter::create(&path).unwrap();
    let labels = [None, Some("load"), Some("load"), Some("<train>"), None];
    for (i, label) in labels.iter().enumerate() {
        w.push_labelled(
            Sample {
                time_ns: i as i64,
                wait_ns: 1,
            },
            1_000,
            *label,
        );
        if i == 2 {
            w.write_part(&meta()).unwrap();
        }
    }
    w.finish(&meta()).unwrap();
    let all = TraceReader::open(&path).unwrap().read_all().unwrap();
    let names: Vec<Option<&str>> = all
        .label
        .iter()
        .map(|k| k.map(|k| all.labels[k as usize].as_str()))
        .collect();
    assert_eq!(names, labels);
    assert_eq!(all.interval_ns, vec![1_000; 5]);
}

#[test]
fn wait_details_round_trip_across_parts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("details.parquet");
    let mut w = TraceWriter::create(&path).unwrap();
    let detail = |blocked, runnable_ns, handoff_ns| WaitDetail {
        blocked,
        runnable_ns,
        handoff_ns,
    };
    let knocks = [
        (100, detail(None, None, None)),
        (3_000_000, detail(Some(true), Some(40_000), Some(95_000))),
        (
            2_000_000,
            detail(Some(false), Some(1_999_000), Some(60_000)),
        ),
        (7_000, detail(Some(true), None, Some(31_000))),
        (9_000, detail(Some(true), Some(2_000), None)),
    ];
    for (i, (wait_ns, detail)) in knocks.iter().enumerate() {
        let sample = Sample {
            time_ns: i as i64,
            wait_ns: *wait_ns,
        };
        w.push_knock(sample, 1_000, None, detail);
        if i == 1 {
            w.write_part(&meta()).unwrap();
        }
    }
    w.finish(&meta()).unwrap();
    let all = TraceReader::open(&path).unwrap().read_all().unwrap();
    let read: Vec<_> = (0..all.len())
        .map(|i| detail(all.blocked[i], all.runnable_ns[i], all.handoff_ns[i]))
        .collect();
    let written: Vec<_> = knocks.iter().map(|k| k.1).collect();
    assert_eq!(read, written);
}

/// The compression codec of every column chunk of a Parquet file.
fn codecs(path: &Path) -> Vec<parquet::basic::Compression> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(fs::File::open(path).unwrap()).unwrap();
    let metadata = reader.metadata();
    metadata
        .row_groups()
        .iter()
        .flat_map(|g| g.columns().iter().map(|c| c.compression()))
        .collect()
}

#[test]
fn small_parts_are_written_uncompressed_and_the_merged_trace_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("codecs.parquet");
    let mut w = TraceWriter::create(&path).unwrap();
    let push = |w: &mut TraceWriter, n: usize| {
        for i in 0..n {
            let sample = Sample {
                time_ns: i as i64,
                wait_ns: 700,
            };
            w.push_knock(sample, 1_000, None, &WaitDetail::default());
        }
    };
    push(&mut w, 10);
    w.write_part(&meta()).unwrap();
    push(&mut w, gilknocker_trace::writer::COMPRESS_PART_MIN_ROWS);
    w.write_part(&meta()).unwrap();
    let mut parts: Vec<_> = fs::read_dir(parts_dir(&path))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    parts.sort();
    let part_codecs: Vec<_> = parts.iter().map(|p| codecs(p)).collect();
    let small = part_codecs.iter().find(|c| !c.is_empty()).unwrap();
    assert!(small
        .iter()
        .all(|c| *c == parquet::basic::Compression::UNCOMPRESSED));
    let large = part_codecs.last().unwrap();
    assert!(large
        .iter()
        .all(|c| matches!(c, parquet::basic::Compression::ZSTD(_))));
    w.finish(&meta()).unwrap();
    let merged = codecs(&path);
    assert!(!merged.is_empty());
    assert!(merged
        .iter()
        .all(|c| matches!(c, parquet::basic::Compression::ZSTD(_))));
}

/// What a killed recorder leaves when its newest samples are in the spool: readers and
/// recover() see every flushed sample, with its labels and details, exactly once.
#[test]
fn flushed_samples_are_in_the_spool_and_read_and_recovered_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spooled.parquet");
    let all = samples(1_000);
    let mut w = TraceWriter::create(&path).unwrap();
    let mut m = meta();
    w.write_header(&m).unwrap();
    // 300 rows in a part, then three flushes of 200 rows to the spool.
    all[..300].iter().for_each(|s| w.push(*s));
    m.counters.knocks = 300;
    w.write_part(&m).unwrap();
    for (i, chunk) in all[300..900].chunks(200).enumerate() {
        for s in chunk {
            let detail = WaitDetail {
                blocked: Some(s.wait_ns % 2 == 0),
                runnable_ns: Some(s.wait_ns / 3),
                handoff_ns: None,
            };
            let label = (i == 1).then_some("phase two");
            w.push_knock(*s, 0, label, &detail);
        }
        m.counters.knocks += chunk.len() as u64;
        assert_eq!(w.flush(&m).unwrap(), chunk.len());
        assert_eq!(w.unspooled(), 0);
    }
    // A flush is not a part: the directory holds the header, one part and the spool.
    let names: Vec<String> = fs::read_dir(parts_dir(&path))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.iter().filter(|n| n.starts_with("part-")).count(), 2);
    assert_eq!(names.iter().filter(|n| n.ends_with(".arrows")).count(), 1);
    // Buffered, never flushed: lost, as after SIGKILL.
    all[900..].iter().for_each(|s| w.push(*s));
    std::mem::forget(w);

    let r = TraceReader::open(&path).unwrap();
    assert!(r.from_parts() && !r.metadata().complete);
    // The spool's metadata is from its first flush (the newest file on disk).
    assert_eq!(r.metadata().counters.knocks, 500);
    let cols = r.read_all().unwrap();
    assert_eq!(
        cols.wait_ns,
        all[..900].iter().map(|s| s.wait_ns).collect::<Vec<_>>()
    );
    assert_eq!(cols.interval_ns[899], 1_000_000, "0 = the polling interval");
    assert_eq!(cols.labels, vec!["phase two".to_string()]);
    assert_eq!(cols.label[500..502], [Some(0), Some(0)]);
    assert_eq!(cols.label[499], None);
    assert_eq!(cols.blocked[300], Some(all[300].wait_ns % 2 == 0));
    assert_eq!(cols.runnable_ns[899], Some(all[899].wait_ns / 3));

    let stats = recover(&path).unwrap();
    assert_eq!((stats.parts, stats.rows), (3, 900));
    let (m, s) = read(&path);
    assert!(m.recovered && !m.complete);
    assert_eq!(s, all[..900]);
    let cols = TraceReader::open(&path).unwrap().read_all().unwrap();
    assert_eq!(cols.labels, vec!["phase two".to_string()]);
    assert_eq!(cols.label[500], Some(0));
}

/// A process killed while appending leaves a torn last message: the batches before it count.
#[test]
fn a_torn_spool_keeps_its_complete_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torn.parquet");
    let all = samples(300);
    let mut w = TraceWriter::create(&path).unwrap();
    let m = meta();
    w.write_header(&m).unwrap();
    for chunk in all.chunks(100) {
        chunk.iter().for_each(|s| w.push(*s));
        w.flush(&m).unwrap();
    }
    std::mem::forget(w);
    let spool = fs::read_dir(parts_dir(&path))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| gilknocker_trace::is_spool(p))
        .unwrap();
    let len = fs::metadata(&spool).unwrap().len();
    let file = fs::OpenOptions::new().write(true).open(&spool).unwrap();
    file.set_len(len - 40).unwrap();
    let contents = gilknocker_trace::read_spool(&spool).unwrap();
    assert!(contents.torn);
    assert_eq!(contents.batches.len(), 2);
    assert_eq!(
        TraceReader::open(&path).unwrap().read_all().unwrap().len(),
        200
    );
    assert_eq!(recover(&path).unwrap().rows, 200);
    assert_eq!(read(&path).1, all[..200]);
}

/// The spool becomes part N; a crash between writing that part and removing the spool leaves
/// both, and the samples must not count twice.
#[test]
fn a_spool_whose_part_exists_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("both.parquet");
    let all = samples(500);
    let mut w = TraceWriter::create(&path).unwrap();
    let m = meta();
    w.write_header(&m).unwrap();
    all[..200].iter().for_each(|s| w.push(*s));
    w.flush(&m).unwrap();
    let parts = parts_dir(&path);
    let spool = parts.join(".spool-000002.arrows");
    let kept = fs::read(&spool).unwrap();
    all[200..].iter().for_each(|s| w.push(*s));
    assert_eq!(w.write_part(&m).unwrap(), 500);
    assert!(!spool.exists(), "the part replaces the spool");
    assert!(parts.join("part-000002.parquet").exists());
    fs::write(&spool, kept).unwrap();
    std::mem::forget(w);
    assert_eq!(gilknocker_trace::list_parts(&parts).unwrap().len(), 2);
    assert_eq!(
        TraceReader::open(&path).unwrap().read_all().unwrap().len(),
        500
    );
    assert_eq!(recover(&path).unwrap().rows, 500);
}

/// Many samples at once are worth a part: a flush that would leave SPOOL_MAX_ROWS or more in
/// the spool writes a part instead.
#[test]
fn a_big_flush_writes_a_part() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.parquet");
    let n = gilknocker_trace::SPOOL_MAX_ROWS;
    let all = samples(n + 10);
    let mut w = TraceWriter::create(&path).unwrap();
    let m = meta();
    all[..10].iter().for_each(|s| w.push(*s));
    w.flush(&m).unwrap();
    assert_eq!(w.spooled(), 10);
    all[10..].iter().for_each(|s| w.push(*s));
    assert_eq!(w.flush(&m).unwrap(), n);
    assert_eq!((w.spooled(), w.buffered()), (0, 0));
    let parts = parts_dir(&path);
    let files = gilknocker_trace::list_parts(&parts).unwrap();
    assert_eq!(files.len(), 1);
    assert!(!gilknocker_trace::is_spool(&files[0]));
    assert!(!parts.join(".spool-000001.arrows").exists());
    let mut done = m.clone();
    done.complete = true;
    w.finish(&done).unwrap();
    assert_eq!(read(&path).1, all);
}
