//! Python: the interpreter's own compiler over every changed file in one process, plus
//! undefined-name checks when pyflakes (or ruff) is installed (`validators/python_check.py`).
//! `py_compile` alone would not see an undefined `_teleforge`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{run_error, Check, Diagnostic, Validator};
use crate::error::{Error, Result};

const SCRIPT: &str = include_str!("../../validators/python_check.py");
const INSTALL: &str = "install Python 3.8 or newer";

#[derive(Debug)]
pub struct PythonValidator {
    /// Longest one python3 process may run.
    timeout: Duration,
}

impl Default for PythonValidator {
    fn default() -> Self {
        PythonValidator::with_timeout(crate::pipeline::DEFAULT_CHECK_TIMEOUT)
    }
}

fn missing(e: &std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::ToolchainMissing { tool: "python3", install: INSTALL }
    } else {
        Error::Toolchain { tool: "python3", detail: e.to_string() }
    }
}

impl PythonValidator {
    /// A validator whose python3 processes are killed after `timeout`.
    pub fn with_timeout(timeout: Duration) -> Self {
        PythonValidator { timeout }
    }

    /// Runs the checker over `files` (relative to `root`, each with whether it needs the full
    /// check or only the compiler, and its bytes when they are not on disk under `root`).
    fn run(&self, root: &Path, files: &[(String, bool, Option<&[u8]>)]) -> Result<Check> {
        if files.is_empty() {
            return Ok(Check::default());
        }
        let request = serde_json::json!({
            "root": root.to_string_lossy(),
            "files": files
                .iter()
                .map(|(f, full, bytes)| {
                    let checks = if *full { "full" } else { "compile" };
                    match bytes {
                        Some(b) => serde_json::json!({ "path": f, "checks": checks, "bytes": b.len() }),
                        None => serde_json::json!({ "path": f, "checks": checks }),
                    }
                })
                .collect::<Vec<_>>(),
        });
        // One line of JSON, then the bytes it announces.
        let mut input = request.to_string().into_bytes();
        input.push(b'\n');
        for (_, _, bytes) in files {
            if let Some(b) = bytes {
                input.extend_from_slice(b);
            }
        }
        let start = Instant::now();
        let mut cmd = Command::new("python3");
        cmd.arg("-c").arg(SCRIPT).env("PYTHONDONTWRITEBYTECODE", "1");
        let out = crate::process::run(&mut cmd, Some(&input), self.timeout).map_err(|e| run_error(e, missing))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(Error::Toolchain { tool: "python3", detail: err.lines().last().unwrap_or("").to_string() });
        }
        let mut diagnostics = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            if v.get("summary").is_some() {
                continue;
            }
            diagnostics.push(Diagnostic {
                file: v["file"].as_str().unwrap_or("").to_string(),
                line: v["line"].as_u64().unwrap_or(0) as usize,
                column: v["column"].as_u64().map(|c| c as usize),
                message: v["message"].as_str().unwrap_or("").to_string(),
            });
        }
        Ok(Check { diagnostics, runs: 1, elapsed: start.elapsed(), ..Default::default() })
    }
}

impl Validator for PythonValidator {
    fn language(&self) -> &'static str {
        "python"
    }

    fn per_file(&self) -> bool {
        true
    }

    fn available(&self) -> Result<()> {
        crate::process::run(Command::new("python3").arg("--version"), None, self.timeout)
            .map_err(|e| run_error(e, missing))
            .map(|_| ())
    }

    fn compiled_files(&self, _root: &Path) -> Result<Option<std::collections::BTreeSet<String>>> {
        Ok(None)
    }

    /// The original files get the full check: an undefined name they already have must be
    /// known, whichever check their instrumented copy gets.
    fn baseline(&self, root: &Path, targets: &[String]) -> Result<Check> {
        let files: Vec<(String, bool, Option<&[u8]>)> = targets.iter().map(|t| (t.clone(), true, None)).collect();
        self.run(root, &files)
    }

    /// Checks exactly the changed files. Their text goes to the checker on stdin; only the files
    /// that get the undefined-name check are written, to a scratch folder laid out like the tree
    /// (ruff, the fallback when pyflakes is missing, reads files from disk).
    fn check(&self, _root: &Path, files: &BTreeMap<String, String>) -> Result<Check> {
        let mut scratch: Option<tempfile::TempDir> = None;
        let mut rels: Vec<(String, bool, Option<&[u8]>)> = Vec::new();
        for (rel, text) in files {
            if !rel.ends_with(".py") {
                continue;
            }
            let full = needs_name_check(text);
            if !full {
                rels.push((rel.clone(), false, Some(text.as_bytes())));
                continue;
            }
            if scratch.is_none() {
                scratch = Some(
                    tempfile::Builder::new()
                        .prefix("teleforge-py-")
                        .tempdir()
                        .map_err(|e| Error::io("creating", std::env::temp_dir(), e))?,
                );
            }
            let path = scratch.as_ref().map(|s| s.path().join(rel)).unwrap_or_default();
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
            }
            std::fs::write(&path, text).map_err(|e| Error::io("writing", &path, e))?;
            rels.push((rel.clone(), true, None));
        }
        let root = scratch.as_ref().map_or_else(std::env::temp_dir, |s| s.path().to_path_buf());
        self.run(&root, &rels)
    }
}

/// Whether an instrumented file needs the undefined-name check on top of the compiler. The
/// template forms use only the runtime handle `_teleforge` (as `_teleforge.…`, bound by the import
/// teleforge adds) and names bound at that point by construction (the function's parameters, the
/// variable just assigned), so in a file where `_teleforge` appears only as that import's target
/// and in attribute reads, compiling is the whole check. A model's snippet
/// (`_teleforge.snippet(`) may name anything, and a user's own `_teleforge` can shadow ours:
/// those files get pyflakes. What the cheaper check can miss: nothing the template forms insert;
/// a pre-existing undefined name in a file checked compile-only is not reported either way.
fn needs_name_check(text: &str) -> bool {
    const NAME: &str = "_teleforge";
    if text.contains("_teleforge.snippet(") {
        return true;
    }
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut bare = 0;
    for (at, _) in text.match_indices(NAME) {
        let end = at + NAME.len();
        if (at > 0 && word(bytes[at - 1])) || bytes.get(end).is_some_and(|&b| word(b)) {
            continue;
        }
        let next = text[end..].trim_start_matches([' ', '\t']).bytes().next();
        if next != Some(b'.') {
            bare += 1;
        }
    }
    // One bare occurrence: the target of teleforge's own import.
    bare != 1
}

#[cfg(test)]
mod name_check_tests {
    use super::needs_name_check;

    #[test]
    fn only_files_that_can_break_a_name_get_the_full_check() {
        let ours = "_teleforge = __import__(\"_teleforge_tel\").tel\n@_teleforge.instrument(\"f\")\ndef f(a):\n    _teleforge.var_assign(\"a\", a)\n";
        assert!(!needs_name_check(ours));
        assert!(needs_name_check(&format!("{ours}_teleforge = None\n")), "a user's binding shadows ours");
        assert!(needs_name_check(&format!("{ours}def g(_teleforge):\n    pass\n")));
        assert!(needs_name_check(&format!("{ours}x = _teleforge.snippet(y, \"tf}}\")\n")), "model code");
        assert!(needs_name_check("print(1)\n"), "no import at all: something is off, check it all");
    }
}
