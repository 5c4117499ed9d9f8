//! Exit codes (documented in README.md), chosen from the BSD `sysexits` conventions so that
//! scripts can tell "retry later" from "fix your input".

use teleforge_learning::Error;

/// Wrong usage: unknown flag, missing argument, refused without confirmation.
pub const USAGE: i32 = 2;
/// Bad input data: a malformed import file, a corrupt store.
pub const DATA: i32 = 65;
/// An input file does not exist or cannot be read.
pub const NO_INPUT: i32 = 66;
/// A file or folder could not be written.
pub const IO: i32 = 74;
/// A toolchain or service is unavailable (go not on PATH).
pub const UNAVAILABLE: i32 = 69;
/// The store is busy with another writer: try again.
pub const BUSY: i32 = 75;
/// The store needs a newer teleforge, or a configuration is wrong (a missing key, an unknown
/// model, a bad teleforge.toml).
pub const CONFIG: i32 = 78;
/// Anything else.
pub const FAILURE: i32 = 1;

/// A usage problem found after parsing (for example a missing `--yes`).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// An input (the tree to instrument or strip) that does not exist or cannot be read.
#[derive(Debug)]
pub struct NoInput(pub String);

impl std::fmt::Display for NoInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoInput {}

/// The exit code for an error chain.
pub fn code_for(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause.downcast_ref::<UsageError>().is_some() {
            return USAGE;
        }
        if cause.downcast_ref::<NoInput>().is_some() {
            return NO_INPUT;
        }
        if cause.downcast_ref::<crate::config::ConfigError>().is_some() {
            return CONFIG;
        }
        if let Some(e) = cause.downcast_ref::<teleforge_llm::Error>() {
            return llm_code(e);
        }
        if let Some(e) = cause.downcast_ref::<teleforge_instrument::Error>() {
            use teleforge_instrument::Error as I;
            match e {
                I::ToolchainMissing { .. } => return UNAVAILABLE,
                I::Usage(_) | I::OutputOverlapsInput { .. } | I::DirtyTree { .. } => return USAGE,
                I::Io { .. } => return IO,
                I::Learning(inner) => return learning_code(inner),
                I::Llm(inner) => return llm_code(inner),
                _ => return FAILURE,
            }
        }
        if let Some(e) = cause.downcast_ref::<Error>() {
            return learning_code(e);
        }
        if let Some(e) = cause.downcast_ref::<std::io::Error>() {
            return match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => NO_INPUT,
                _ => IO,
            };
        }
    }
    FAILURE
}

fn learning_code(e: &Error) -> i32 {
    match e {
        Error::Busy { .. } => BUSY,
        Error::Corrupt { .. } | Error::InvalidRecord { .. } => DATA,
        Error::NewerSchema { .. } => CONFIG,
        Error::Io { .. } => IO,
        Error::Database { .. } => FAILURE,
    }
}

fn llm_code(e: &teleforge_llm::Error) -> i32 {
    use teleforge_llm::Error as L;
    match e {
        L::MissingKey { .. } | L::Unauthorized { .. } | L::UnknownModel { .. } => CONFIG,
        L::Unreachable { .. } | L::Timeout { .. } | L::Status { .. } => UNAVAILABLE,
        L::BadResponse { .. } => DATA,
    }
}
