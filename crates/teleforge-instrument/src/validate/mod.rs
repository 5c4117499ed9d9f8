//! Validators: one per toolchain, each checking a whole tree (with instrumented files overlaid)
//! in as few compiler runs as it can: once per round, never once per construct. TypeScript and
//! JSX are checked by the project's own TypeScript compiler (`typescript.rs`).

mod go;
mod javascript;
mod python;
mod typescript;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

pub use go::GoValidator;
pub use javascript::JavaScriptValidator;
pub use python::PythonValidator;
pub use typescript::TypeScriptValidator;

use crate::error::Result;

/// One diagnostic, located in the original tree (insertions keep line numbers).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    /// Path relative to the instrumented root; empty when the toolchain named no file.
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: usize,
    pub column: Option<usize>,
    pub message: String,
}

impl Diagnostic {
    /// `file:line:col: message`, as toolchains print it.
    pub fn render(&self) -> String {
        match (self.file.is_empty(), self.column) {
            (true, _) => self.message.clone(),
            (false, Some(c)) => format!("{}:{}:{}: {}", self.file, self.line, c, self.message),
            (false, None) => format!("{}:{}: {}", self.file, self.line, self.message),
        }
    }
}

/// What one check found and cost.
#[derive(Debug, Clone, Default)]
pub struct Check {
    pub diagnostics: Vec<Diagnostic>,
    /// Toolchain processes started.
    pub runs: usize,
    pub elapsed: Duration,
    /// Files checked as they are on disk that the toolchain cannot parse (a baseline's answer for
    /// toolchains that stop at a file's first syntax error, which would hide every error an
    /// insertion adds after it): their constructs cannot be validated.
    pub unparsable: BTreeSet<String>,
}

/// Checks a tree with a language's real toolchain.
pub trait Validator {
    fn language(&self) -> &'static str;
    /// Fails with a one-line, actionable error when the toolchain is missing.
    fn available(&self) -> Result<()>;
    /// Starts what the first check will need, so that its start-up overlaps with discovery (the
    /// JavaScript checker's node process); nothing by default. Failures surface at that check.
    fn warm_up(&self) {}
    /// Files (relative to `root`) the toolchain actually compiles, when it can tell (Go's build
    /// constraints exclude some); constructs elsewhere cannot be validated.
    fn compiled_files(&self, root: &Path) -> Result<Option<BTreeSet<String>>>;
    /// Whether a file's diagnostics depend on that file alone (Python, JavaScript), so an unchanged
    /// file need not be checked again; Go's type checking spans a package.
    fn per_file(&self) -> bool {
        false
    }
    /// Compiler runs made (and their time) to answer [`Validator::compiled_files`] and
    /// [`Validator::unbuildable_files`]: they count among a run's compiler runs. None by default.
    fn preparation_cost(&self) -> (usize, Duration) {
        (0, Duration::ZERO)
    }
    /// Files whose package does not build before instrumentation (itself or a dependency), so
    /// their constructs could never be type-checked; none by default.
    fn unbuildable_files(&self, _root: &Path) -> Result<BTreeSet<String>> {
        Ok(BTreeSet::new())
    }
    /// The diagnostics the original tree already has in `targets` (files that may be changed);
    /// by default a check of the whole tree with nothing overlaid.
    fn baseline(&self, root: &Path, _targets: &[String]) -> Result<Check> {
        self.check(root, &BTreeMap::new())
    }
    /// Checks `root` as it would be with `files` (relative path → new content, including new
    /// files) in place of what is on disk. The tree on disk is never modified.
    fn check(&self, root: &Path, files: &BTreeMap<String, String>) -> Result<Check>;
}

/// The validator for a language, if one is built, with the default time limit per toolchain
/// process ([`crate::pipeline::DEFAULT_CHECK_TIMEOUT`]).
pub fn for_language(language: &str) -> Option<Box<dyn Validator>> {
    for_language_with(language, crate::pipeline::DEFAULT_CHECK_TIMEOUT)
}

/// The validator for a language, if one is built; every toolchain process it starts is killed
/// (with its whole process group) after `timeout` (`--check-timeout`).
pub fn for_language_with(language: &str, timeout: Duration) -> Option<Box<dyn Validator>> {
    match language {
        "go" => Some(Box::new(GoValidator::with_timeout(timeout))),
        "python" => Some(Box::new(PythonValidator::with_timeout(timeout))),
        "javascript" => Some(Box::new(JavaScriptValidator::with_timeout(timeout))),
        "typescript" => Some(Box::new(TypeScriptValidator::with_timeout(timeout))),
        _ => None,
    }
}

/// A toolchain run's failure as the library's error: a program that cannot be started goes
/// through `missing` (so a missing toolchain says how to install it); a timeout stays a timeout.
pub(crate) fn run_error(e: crate::process::RunError, missing: fn(&std::io::Error) -> crate::Error) -> crate::Error {
    match e {
        crate::process::RunError::Spawn { source, .. } => missing(&source),
        other => crate::Error::Process(other),
    }
}
