//! What can go wrong, each variant naming its cause and what to do.

use std::path::PathBuf;

/// Errors of reading events and exporting spans.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A line of the events file is not a Tel event (docs/TELEMETRY.md, "Event shape").
    #[error("{}:{line}: not a Tel event: {detail} (pass --skip-malformed to leave such lines out)", path.display())]
    Malformed { path: PathBuf, line: u64, detail: String },
    /// The events file (or the output) could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The OTLP/HTTP endpoint could not be reached, or kept answering "try later", after every retry.
    #[error("OTLP endpoint {url} unavailable after {attempts} attempts: {detail}")]
    Unavailable { url: String, attempts: u32, detail: String },
    /// The OTLP/HTTP endpoint refused a request with a status that retrying cannot fix.
    #[error("OTLP endpoint {url} refused the export with HTTP {status}: {detail}")]
    Refused { url: String, status: u16, detail: String },
    /// The sink stopped taking batches (internal: `export` reports the sink's own error).
    #[doc(hidden)]
    #[error("the output stopped taking spans")]
    SinkClosed,
    /// An endpoint URL that is not `http://` or `https://`.
    #[error("{url:?} is not an OTLP/HTTP endpoint: give an http:// or https:// URL such as http://127.0.0.1:4318")]
    BadEndpoint { url: String },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
