//! Errors that name the cause and the fix.

/// What can go wrong talking to a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no API key for {provider}: set {env} (or api_key_file in teleforge.toml), or use --generator template")]
    MissingKey { provider: &'static str, env: &'static str },
    #[error("{provider} rejected the API key (HTTP {status}): check {env}")]
    Unauthorized { provider: &'static str, status: u16, env: &'static str },
    #[error("{provider} does not know the model {model:?}: pass an available one with --model ({detail})")]
    UnknownModel { provider: &'static str, model: String, detail: String },
    #[error("cannot reach {url}: {detail}; is the server running and the --base-url right?")]
    Unreachable { url: String, detail: String },
    #[error("{url} did not answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("{provider} answered HTTP {status} after {attempts} attempts: {detail}")]
    Status { provider: &'static str, status: u16, attempts: u32, detail: String },
    #[error("{provider} sent an answer that is not a {protocol} response: {detail}")]
    BadResponse { provider: &'static str, protocol: &'static str, detail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
