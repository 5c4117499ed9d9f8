//! The library's error type. Each variant names the cause so that the binary can turn it into a
//! one-line message and a documented exit code without parsing strings.

use std::path::PathBuf;

/// Everything that can go wrong in the learning library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process held the store's write lock for longer than the busy timeout.
    #[error("the learning store {path} is busy (another process is writing); try again")]
    Busy { path: PathBuf },

    /// The database file exists but is not a usable teleforge store.
    #[error("the learning store {path} is corrupt or not a teleforge database ({detail}); move it aside or restore a backup")]
    Corrupt { path: PathBuf, detail: String },

    /// The store was written by a newer teleforge whose schema this build does not know.
    #[error("the learning store {path} has schema version {found}, newer than this teleforge supports ({supported}); upgrade teleforge")]
    NewerSchema { path: PathBuf, found: i64, supported: i64 },

    /// A record offered for capture or import is not valid.
    #[error("{origin}: {problem}")]
    InvalidRecord { origin: String, problem: String },

    /// A file or folder could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Any other database failure, with the operation that hit it.
    #[error("learning store error while {action}: {source}")]
    Database {
        action: &'static str,
        #[source]
        source: rusqlite::Error,
    },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }

    pub(crate) fn invalid(origin: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::InvalidRecord { origin: origin.into(), problem: problem.into() }
    }
}
