//! JSON output: the report model serialized as is (pretty-printed, newline-terminated).

use std::io::{self, Write};

use serde::Serialize;

/// Write `report` as pretty JSON followed by a newline.
pub fn write_json<T: Serialize>(out: &mut dyn Write, report: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
    out.write_all(b"\n")
}
