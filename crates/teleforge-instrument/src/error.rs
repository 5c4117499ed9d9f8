//! Errors of the instrumentation library. Each names the cause and, where there is one, the fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("walking the tree: {0}")]
    Walk(String),
    #[error("loading a tree-sitter grammar: {0}")]
    Grammar(String),
    /// A toolchain needed for validation is missing.
    #[error("{tool} not found on PATH: {install}, or pass --no-validate")]
    ToolchainMissing { tool: &'static str, install: &'static str },
    /// The toolchain ran but its answer could not be understood.
    #[error("{tool} failed: {detail}")]
    Toolchain { tool: &'static str, detail: String },
    /// `--validate-cmd` failed on the instrumented result; nothing was written.
    #[error(
        "--validate-cmd `{cmd}` failed (exit {status}) on the instrumented result, so nothing was written: {last_line}"
    )]
    ValidateCmd { cmd: String, status: i32, last_line: String },
    #[error(transparent)]
    Llm(#[from] teleforge_llm::Error),
    #[error(transparent)]
    Learning(#[from] teleforge_learning::Error),
    #[error("{0}")]
    Usage(String),
    /// A child process ran past `--check-timeout` (its process group was killed) or could not be
    /// waited for.
    #[error(transparent)]
    Process(#[from] crate::process::RunError),
    /// An output folder that would overwrite or swallow the input.
    #[error("the output {out} {relation} the input {input}: pass an --out folder outside the input, or --in-place")]
    OutputOverlapsInput { out: PathBuf, input: PathBuf, relation: &'static str },
    /// `--in-place` on a git work tree whose files to be touched have uncommitted changes.
    #[error("{root} has uncommitted changes in {count} file(s) teleforge would touch ({first}): commit or stash them, or pass --allow-dirty")]
    DirtyTree { root: PathBuf, count: usize, first: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}
