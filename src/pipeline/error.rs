//! The pipeline's error type: every variant says which file, where, and what was expected,
//! so the operator can act on it ("re-copy the file", "set record_length in the config").

use std::path::PathBuf;

/// Result alias for the pipeline.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, processing or writing a scan point.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused a read or write.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file's content is not what its format requires.
    #[error("{path}: at byte {offset}: expected {expected}, found {found}")]
    Format {
        path: PathBuf,
        offset: u64,
        expected: String,
        found: String,
    },
    /// The file holds no usable events at all.
    #[error("{path}: {what}")]
    Empty { path: PathBuf, what: String },
    /// The input kind could not be recognised or is not supported in this position.
    #[error("{path}: {what}")]
    Unsupported { path: PathBuf, what: String },
    /// The analysis configuration is invalid.
    #[error("analysis config: {0}")]
    Config(String),
    /// Inputs are inconsistent with each other (channels of a point, etc.).
    #[error("{0}")]
    Input(String),
}

impl Error {
    /// Wraps an I/O error with the path it concerned.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether this is a full disk (or an exhausted quota) while writing: not a fault of
    /// the point, so the caller stops instead of recording the point as failed.
    pub fn is_disk_full(&self) -> bool {
        // ENOSPC 28, EDQUOT 122 on Linux.
        matches!(self, Error::Io { source, .. }
            if source.kind() == std::io::ErrorKind::StorageFull
                || source.kind() == std::io::ErrorKind::QuotaExceeded
                || matches!(source.raw_os_error(), Some(28) | Some(122)))
    }

    /// A format error at `offset` in `path`.
    pub fn format(
        path: impl Into<PathBuf>,
        offset: u64,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Error::Format {
            path: path.into(),
            offset,
            expected: expected.into(),
            found: found.into(),
        }
    }
}
