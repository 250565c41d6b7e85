//! The gilknocker trace format: schema, writer and reader.
//!
//! This crate is the only place where a column name, an Arrow type, a metadata key or the
//! format version is written (see [`schema`]). The recorder writes through [`TraceWriter`]; the
//! analyzer reads through [`TraceReader`]; so they cannot disagree.

pub mod error;
pub mod estimate;
pub mod metadata;
pub mod reader;
pub mod schema;
pub mod spool;
pub mod writer;

pub use error::{Result, TraceError};
pub use estimate::WaitDetail;
pub use metadata::{RunCounters, RunMetadata, ScheduleInfo, ScheduleKind};
pub use reader::{read_file_metadata, SampleColumns, TraceReader};
pub use spool::{read_spool, SpoolContents};
pub use writer::{
    is_spool, list_parts, merge_parts, merge_parts_with_row_groups, parts_dir, recover, MergeStats,
    Sample, TraceWriter, SPOOL_MAX_ROWS,
};

/// A knock that waited longer than this found the GIL busy (default for the recorder; the value
/// used is stored in each trace). A free GIL is re-acquired in well under a microsecond; see
/// docs/accuracy.md for how this was chosen.
pub const DEFAULT_BUSY_THRESHOLD_NS: i64 = 5_000;
