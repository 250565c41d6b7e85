use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong writing or reading a trace. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: not a Parquet file, or truncated ({detail})", path.display())]
    NotParquet { path: PathBuf, detail: String },
    #[error("{} was not written by gilknocker (no '{}' metadata)", path.display(), crate::schema::key::FORMAT)]
    NotGilknocker { path: PathBuf },
    #[error(
        "{}: trace format version {found} is newer than this reader (reads <= {supported}); upgrade gilknocker",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{}: invalid trace: {detail}", path.display())]
    Invalid { path: PathBuf, detail: String },
    #[error(
        "{}: the recording was not finalized (parts left in {}); run `gilknock-analyze recover {}`",
        path.display(), parts.display(), path.display()
    )]
    Unfinalized { path: PathBuf, parts: PathBuf },
    #[error("{}: parquet error: {detail}", path.display())]
    Parquet { path: PathBuf, detail: String },
}

pub type Result<T, E = TraceError> = std::result::Result<T, E>;

impl TraceError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        TraceError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn invalid(path: &Path, detail: impl Into<String>) -> Self {
        TraceError::Invalid {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
    pub(crate) fn parquet(path: &Path, err: impl std::fmt::Display) -> Self {
        TraceError::Parquet {
            path: path.to_path_buf(),
            detail: err.to_string(),
        }
    }
    /// The I/O error kind, when this is an I/O error (used to pick the Python exception).
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            TraceError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
    /// The raw OS error number, when this is an I/O error.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            TraceError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}
