//! The analyzer's errors. Every variant names the file it is about, so the one-line message
//! printed by [`crate::run`] always tells the user which input is at fault.

use std::io;
use std::path::PathBuf;

use gilknocker_trace::TraceError;

/// Everything that can go wrong in an analysis.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The trace crate refused the file (format, version, columns, values).
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A directory argument holds no traces.
    #[error("{}: no traces here (looked for *.parquet files and *.parquet.parts directories)", path.display())]
    NoTraces { path: PathBuf },
    /// The samples are readable but make no sense.
    #[error("{}: invalid trace: {detail}", path.display())]
    Invalid { path: PathBuf, detail: String },
    /// The command needs samples and the trace has none.
    #[error("{}: the trace has no samples, so there is nothing to {what}", path.display())]
    Empty { path: PathBuf, what: &'static str },
    /// A bad command-line value that clap could not check by itself.
    #[error("{0}")]
    Usage(String),
    /// Drawing a plot failed.
    #[error("{}: cannot draw the plot: {detail}", path.display())]
    Plot { path: PathBuf, detail: String },
}

impl AnalyzeError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        AnalyzeError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn invalid(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        AnalyzeError::Invalid {
            path: path.into(),
            detail: detail.into(),
        }
    }
}

pub type Result<T, E = AnalyzeError> = std::result::Result<T, E>;
