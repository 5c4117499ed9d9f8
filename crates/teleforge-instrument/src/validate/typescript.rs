//! TypeScript (and JSX): one node process per check runs the project's own TypeScript compiler
//! API (`validators/ts_check.mjs`) over the whole tree: one program per `tsconfig.json` with the
//! project's options (`strict`, `noUnusedLocals`, `verbatimModuleSyntax`, ... all apply), `noEmit`.
//! Files no program includes get a syntax check. Overlaid files are served from memory through the
//! compiler host, so the tree on disk is never touched and no mirror is built.
//!
//! The compiler is the project's: `node_modules/typescript` at or above the tree (as `tsc` would be
//! found by `npx tsc`), else the `typescript` package of a `tsc` on `PATH`. Without either, the
//! check fails with a one-line error naming the fix (`npm install --save-dev typescript`, or
//! `--no-validate`), unless the tree's only such files are `.jsx` (a JavaScript project): those
//! are then not compiled, so they are left alone and the rest of the run goes on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use super::{Check, Diagnostic, Validator};
use crate::discover::relative;
use crate::error::{Error, Result};

/// The batch checker, written to a scratch folder and run by node.
const SCRIPT: &str = include_str!("../../validators/ts_check.mjs");
const INSTALL: &str = "install TypeScript in the project (`npm install --save-dev typescript`) and Node.js 18 or newer";

/// The TypeScript validator. It remembers the baseline it ran for [`Validator::compiled_files`]
/// so that the pipeline's baseline check right after costs no second compiler run.
#[derive(Debug)]
pub struct TypeScriptValidator {
    baseline: Mutex<Option<(PathBuf, Check)>>,
    /// Compiler runs and time of the run `compiled_files` made.
    preparation: Mutex<(usize, std::time::Duration)>,
    timeout: std::time::Duration,
}

impl Default for TypeScriptValidator {
    fn default() -> Self {
        TypeScriptValidator::with_timeout(crate::pipeline::DEFAULT_CHECK_TIMEOUT)
    }
}

fn missing(e: &std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::ToolchainMissing { tool: "node", install: INSTALL }
    } else {
        Error::Toolchain { tool: "node", detail: e.to_string() }
    }
}

/// Whether `rel` is a file this validator checks: TypeScript and JSX sources, not declarations.
pub fn is_checked(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    [".ts", ".tsx", ".mts", ".cts", ".jsx"].iter().any(|e| name.ends_with(e))
        && ![".d.ts", ".d.mts", ".d.cts"].iter().any(|e| name.ends_with(e))
}

/// The `typescript` package's `lib/typescript.js` the project at `dir` uses: the nearest
/// `node_modules/typescript` at or above `dir`, else the one behind a `tsc` on `PATH`.
pub fn find_typescript(dir: &Path) -> Option<PathBuf> {
    let mut cur = Some(dir);
    while let Some(d) = cur {
        let lib = d.join("node_modules/typescript/lib/typescript.js");
        if lib.is_file() {
            return Some(lib);
        }
        cur = d.parent();
    }
    let path = std::env::var_os("PATH")?;
    for d in std::env::split_paths(&path) {
        let tsc = d.join("tsc");
        if let Ok(real) = tsc.canonicalize() {
            // `…/typescript/bin/tsc` → `…/typescript/lib/typescript.js`
            let lib = real.parent()?.parent()?.join("lib/typescript.js");
            if lib.is_file() {
                return Some(lib);
            }
        }
    }
    None
}

impl TypeScriptValidator {
    /// A validator whose node processes are killed after `timeout`.
    pub fn with_timeout(timeout: std::time::Duration) -> Self {
        TypeScriptValidator {
            baseline: Mutex::new(None),
            preparation: Mutex::new((0, std::time::Duration::ZERO)),
            timeout,
        }
    }

    fn base(root: &Path) -> PathBuf {
        if root.is_file() {
            root.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else {
            root.to_path_buf()
        }
    }

    /// Every TypeScript/JSX file of the tree, as discovery walks it.
    fn tree_files(&self, base: &Path, root: &Path) -> Result<Vec<String>> {
        if root.is_file() {
            return Ok(vec![relative(base, root)]);
        }
        Ok(crate::discover::tree_files(base)?.iter().map(|p| relative(base, p)).filter(|rel| is_checked(rel)).collect())
    }

    /// One ts_check run: the check, and the files a program (or the syntax check) covered.
    fn run(&self, root: &Path, files: &BTreeMap<String, String>) -> Result<(Check, BTreeSet<String>)> {
        let base = Self::base(root);
        let base = base.canonicalize().unwrap_or(base);
        let mut rels = self.tree_files(&base, root)?;
        let known: BTreeSet<String> = rels.iter().cloned().collect();
        rels.extend(files.keys().filter(|rel| is_checked(rel) && !known.contains(*rel)).cloned());
        let Some(typescript) = find_typescript(&base) else {
            // JSX in a JavaScript project without TypeScript: nothing here can check it, so its
            // files are not compiled (left alone, as before JSX was discovered); TypeScript
            // sources need the compiler.
            if rels.iter().all(|r| r.ends_with(".jsx")) {
                return Ok((Check::default(), BTreeSet::new()));
            }
            return Err(Error::ToolchainMissing { tool: "tsc", install: INSTALL });
        };
        let body = serde_json::json!({
            "root": base.to_string_lossy(),
            "typescript": typescript.to_string_lossy(),
            "files": rels,
            "overlay": files,
        })
        .to_string();
        let scratch = tempfile::Builder::new()
            .prefix("teleforge-ts-")
            .tempdir()
            .map_err(|e| Error::io("creating", std::env::temp_dir(), e))?;
        let script = scratch.path().join("ts_check.mjs");
        std::fs::write(&script, SCRIPT).map_err(|e| Error::io("writing", &script, e))?;
        let start = Instant::now();
        let mut cmd = Command::new("node");
        cmd.arg("--no-warnings").arg(&script).current_dir(&base);
        let out = crate::process::run(&mut cmd, Some(body.as_bytes()), self.timeout)
            .map_err(|e| super::run_error(e, missing))?;
        let elapsed = start.elapsed();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(Error::Toolchain {
                tool: "tsc",
                detail: err.lines().next().unwrap_or("ts_check.mjs failed without a message").to_string(),
            });
        }
        let (diagnostics, covered) = parse(&String::from_utf8_lossy(&out.stdout), files);
        Ok((Check { diagnostics, runs: 1, elapsed, ..Default::default() }, covered))
    }
}

/// A 1-based column in UTF-16 code units (as TypeScript counts) as a 1-based column in bytes.
fn byte_column(text: &str, line: usize, utf16_col: usize) -> usize {
    let Some(l) = text.split('\n').nth(line.saturating_sub(1)) else { return utf16_col };
    let mut units = 0;
    for (i, c) in l.char_indices() {
        if units + 1 >= utf16_col {
            return i + 1;
        }
        units += c.len_utf16();
    }
    l.len() + 1 + utf16_col.saturating_sub(units + 1)
}

/// `ts_check.mjs`'s JSON Lines: the diagnostics (columns in bytes for overlaid files), and the
/// files covered by a program or the syntax check.
pub(crate) fn parse(out: &str, files: &BTreeMap<String, String>) -> (Vec<Diagnostic>, BTreeSet<String>) {
    let mut diags = Vec::new();
    let mut covered = BTreeSet::new();
    for line in out.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if let Some(s) = v.get("summary") {
            for key in ["compiled", "syntax_only"] {
                for f in s[key].as_array().into_iter().flatten() {
                    if let Some(f) = f.as_str() {
                        covered.insert(f.to_string());
                    }
                }
            }
            continue;
        }
        let file = v["file"].as_str().unwrap_or("").to_string();
        let line_no = v["line"].as_u64().unwrap_or(0) as usize;
        let column = v["column"].as_u64().map(|c| c as usize).map(|c| match files.get(&file) {
            Some(text) => byte_column(text, line_no, c),
            None => c,
        });
        let message = v["message"].as_str().unwrap_or("").to_string();
        diags.push(Diagnostic { file, line: line_no, column, message });
    }
    (diags, covered)
}

impl Validator for TypeScriptValidator {
    fn language(&self) -> &'static str {
        "typescript"
    }

    fn available(&self) -> Result<()> {
        let out = crate::process::run(Command::new("node").arg("--version"), None, self.timeout)
            .map_err(|e| super::run_error(e, missing))?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
        if !out.status.success() || major < 18 {
            return Err(Error::Toolchain {
                tool: "node",
                detail: format!("Node.js 18 or newer is needed, `node --version` says {version:?}"),
            });
        }
        Ok(())
    }

    /// The files some `tsconfig.json` program includes, plus those checked for syntax only.
    /// Fails with the fix when the project has no TypeScript compiler.
    fn compiled_files(&self, root: &Path) -> Result<Option<BTreeSet<String>>> {
        let (check, covered) = self.run(root, &BTreeMap::new())?;
        *self.preparation.lock().unwrap_or_else(|e| e.into_inner()) = (check.runs, check.elapsed);
        *self.baseline.lock().unwrap_or_else(|e| e.into_inner()) = Some((root.to_path_buf(), check));
        Ok(Some(covered))
    }

    /// The compiler run over the original tree that [`Validator::compiled_files`] made (it also
    /// serves as the baseline, so a baseline taken from it costs nothing more).
    fn preparation_cost(&self) -> (usize, std::time::Duration) {
        *self.preparation.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self, root: &Path, files: &BTreeMap<String, String>) -> Result<Check> {
        if files.is_empty() {
            let cached = self.baseline.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some((_, check)) = cached.filter(|(r, _)| r == root) {
                // Already counted as preparation.
                return Ok(Check { diagnostics: check.diagnostics, ..Default::default() });
            }
        }
        self.run(root, files).map(|(check, _)| check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_files_and_columns() {
        assert!(is_checked("a/b.tsx") && is_checked("x.cts") && is_checked("c.jsx"));
        assert!(!is_checked("a.d.ts") && !is_checked("a.js") && !is_checked("_teleforge_tel.d.cts"));
        assert_eq!(byte_column("const é = 1; x\n", 1, 14), 15);
        let out = "{\"file\":\"a.ts\",\"line\":1,\"column\":7,\"code\":2322,\"message\":\"error TS2322: Type 'string' is not assignable to type 'number'.\",\"source\":\"program\"}\n{\"summary\":{\"programs\":1,\"compiled\":[\"a.ts\"],\"syntax_only\":[\"b.jsx\"],\"seconds\":1}}\n";
        let (d, covered) = parse(out, &BTreeMap::new());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].render(), "a.ts:1:7: error TS2322: Type 'string' is not assignable to type 'number'.");
        assert_eq!(covered.into_iter().collect::<Vec<_>>(), ["a.ts", "b.jsx"]);
    }

    #[test]
    fn a_project_without_typescript_gets_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.ts"), "export const a = 1;\n").unwrap();
        if find_typescript(dir.path()).is_some() {
            return; // a tsc on PATH serves it
        }
        let err = TypeScriptValidator::default().compiled_files(dir.path()).unwrap_err().to_string();
        assert!(err.contains("npm install --save-dev typescript") && err.contains("--no-validate"), "{err}");
    }
}
