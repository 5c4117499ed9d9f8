//! JavaScript: one node process per check parses every JavaScript file of the tree with node's
//! own parser (`validators/js_check.mjs`: `vm.compileFunction` for CommonJS,
//! `vm.SourceTextModule` for ES modules, plus the link errors an ES module only shows at run time:
//! `require`/`module`/`exports`/`__filename`/`__dirname` used in module scope, and relative
//! imports that resolve to nothing). A `node --check` per file would cost ~110 ms each.
//!
//! Each file is checked as the module system node gives it: extension, nearest `package.json`
//! `"type"`, else its syntax (as node 22.12+ detects it), else CommonJS.
//!
//! The tree on disk is never touched and nothing is written for a check: the instrumented files
//! go to node on stdin with their paths in the tree, and the import check counts them as files
//! that exist, so relative imports resolve exactly as they would in the tree.
//!
//! A file's diagnostics depend on its own text alone (its parse, its free names) and on which files
//! exist (its relative imports, which an overlay only adds to), so the checker is per file: a check
//! parses only the files it is given, and nothing runs before the first check. Most trees parse
//! before and after instrumentation; the originals of the files a check reported something in are
//! parsed by [`Validator::baseline`], which also says which of them node cannot parse as they are
//! (JSX in a `.js` file, Flow, a redeclaration): node stops at a file's first error, which would
//! hide every error an insertion adds after it, so the pipeline leaves such files alone.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use super::{Check, Diagnostic, Validator};
use crate::discover::relative;
use crate::error::{Error, Result};
use crate::language::JavaScript;

/// The batch checker, written to a scratch folder and run by node.
const SCRIPT: &str = include_str!("../../validators/js_check.mjs");
const INSTALL: &str = "install Node.js 18 or newer";

/// The JavaScript validator.
pub struct JavaScriptValidator {
    /// Longest one node process may run.
    timeout: std::time::Duration,
    /// A checker started by [`Validator::warm_up`], waiting for its request on stdin, with the
    /// scratch folder holding its script: the first check uses it (node's start-up, ≈ 70 ms here,
    /// then overlaps with discovery). Killed if never used.
    ready: Mutex<Option<(tempfile::TempDir, crate::process::Started)>>,
}

impl std::fmt::Debug for JavaScriptValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JavaScriptValidator").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Default for JavaScriptValidator {
    fn default() -> Self {
        JavaScriptValidator::with_timeout(crate::pipeline::DEFAULT_CHECK_TIMEOUT)
    }
}

impl JavaScriptValidator {
    /// A validator whose node processes are killed after `timeout`.
    pub fn with_timeout(timeout: std::time::Duration) -> Self {
        JavaScriptValidator { timeout, ready: Mutex::new(None) }
    }
}

fn missing(e: &std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::ToolchainMissing { tool: "node", install: INSTALL }
    } else {
        Error::Toolchain { tool: "node", detail: e.to_string() }
    }
}

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("teleforge-js-")
        .tempdir()
        .map_err(|e| Error::io("creating", std::env::temp_dir(), e))
}

fn is_js(rel: &str) -> bool {
    rel.ends_with(".js") || rel.ends_with(".mjs") || rel.ends_with(".cjs")
}

/// The node command that runs the checker at `script`.
pub fn node_command(script: &Path) -> Command {
    let mut c = Command::new("node");
    c.args(["--experimental-vm-modules", "--expose-internals", "--no-warnings"]).arg(script);
    c
}

/// Whether an executable `name` is on `PATH` (what spawning it would find), without starting it.
fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::metadata(dir.join(name)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// A 1-based column in UTF-16 code units (as node counts) as a 1-based column in bytes.
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

impl Validator for JavaScriptValidator {
    fn language(&self) -> &'static str {
        "javascript"
    }

    fn per_file(&self) -> bool {
        true
    }

    /// That node is on `PATH`, without starting it (a node start costs tens of milliseconds; the
    /// checker itself refuses a node older than 18, with the version it found).
    fn available(&self) -> Result<()> {
        if on_path("node") {
            Ok(())
        } else {
            Err(Error::ToolchainMissing { tool: "node", install: INSTALL })
        }
    }

    fn warm_up(&self) {
        if let Ok(started) = start_checker() {
            *self.ready.lock().unwrap_or_else(|e| e.into_inner()) = Some(started);
        }
    }

    /// Every file may be compiled: files node cannot parse as they are come out of the baseline.
    fn compiled_files(&self, _root: &Path) -> Result<Option<BTreeSet<String>>> {
        Ok(None)
    }

    /// The originals of `targets`, as they are on disk; [`Check::unparsable`] names those node
    /// cannot parse.
    fn baseline(&self, root: &Path, targets: &[String]) -> Result<Check> {
        let rels: Vec<String> = targets.iter().filter(|rel| is_js(rel)).cloned().collect();
        self.run(root, &rels, &BTreeMap::new())
    }

    /// With files overlaid, exactly those files; with none, every JavaScript file of the tree.
    fn check(&self, root: &Path, files: &BTreeMap<String, String>) -> Result<Check> {
        let base = if root.is_file() { root.parent().unwrap_or(Path::new(".")) } else { root };
        let rels: Vec<String> = if files.is_empty() {
            if root.is_file() {
                vec![relative(root, root)]
            } else {
                crate::discover::tree_files(base)?.iter().map(|p| relative(base, p)).filter(|rel| is_js(rel)).collect()
            }
        } else {
            files.keys().filter(|rel| is_js(rel)).cloned().collect()
        };
        self.run(root, &rels, files)
    }
}

impl JavaScriptValidator {
    /// One js_check run over `rels`, each with its text from `files` when it is there, else from
    /// disk. Files checked from disk that do not parse are [`Check::unparsable`].
    fn run(&self, root: &Path, rels: &[String], files: &BTreeMap<String, String>) -> Result<Check> {
        if rels.is_empty() {
            return Ok(Check::default());
        }
        let base =
            if root.is_file() { root.parent().unwrap_or(Path::new(".")).to_path_buf() } else { root.to_path_buf() };
        let mut cache: HashMap<PathBuf, Option<&'static str>> = HashMap::new();
        let mut request = Vec::with_capacity(rels.len());
        for rel in rels {
            let kind = module_system(
                &base.join(rel),
                || match files.get(rel) {
                    Some(t) => t.clone(),
                    None => std::fs::read_to_string(base.join(rel)).unwrap_or_default(),
                },
                &mut cache,
            );
            match files.get(rel) {
                Some(text) => request.push(serde_json::json!({ "path": rel, "kind": kind, "text": text })),
                None => request.push(serde_json::json!({ "path": rel, "kind": kind })),
            }
        }
        // Files that exist for the import check besides the tree's (the runtime file).
        let added: Vec<&String> = files.keys().filter(|rel| !base.join(rel).exists()).collect();
        let body = serde_json::json!({ "root": base.to_string_lossy(), "files": request, "added": added }).to_string();
        let start = Instant::now();
        let warm = self.ready.lock().unwrap_or_else(|e| e.into_inner()).take();
        let (_scratch, checker) = match warm {
            Some(started) => started,
            None => start_checker()?,
        };
        // A node that exits early closes the pipe: its exit status and stderr tell why.
        let out = checker.finish(Some(body.as_bytes()), self.timeout).map_err(|e| super::run_error(e, missing))?;
        let elapsed = start.elapsed();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(Error::Toolchain {
                tool: "node",
                detail: err.lines().next().unwrap_or("js_check.mjs failed without a message").to_string(),
            });
        }
        let (diagnostics, failed) = parse(&String::from_utf8_lossy(&out.stdout), &base, &base, files);
        let unparsable = failed.into_iter().filter(|f| !files.contains_key(f)).collect();
        Ok(Check { diagnostics, runs: 1, elapsed, unparsable })
    }
}

/// A node process running the checker from a scratch folder, waiting for its request.
fn start_checker() -> Result<(tempfile::TempDir, crate::process::Started)> {
    let scratch = tempdir()?;
    let scratch_path = scratch.path().canonicalize().map_err(|e| Error::io("resolving", scratch.path(), e))?;
    let script = scratch_path.join("js_check.mjs");
    std::fs::write(&script, SCRIPT).map_err(|e| Error::io("writing", &script, e))?;
    let mut cmd = node_command(&script);
    cmd.current_dir(&scratch_path);
    let started = crate::process::start(&mut cmd).map_err(|e| super::run_error(e, missing))?;
    Ok((scratch, started))
}

/// [`JavaScript::module_system`], without parsing an instrumented file (its runtime import says
/// which module system discovery gave it) or a file whose text cannot hold an `import` or
/// `export` statement: when neither word appears as a whole word (JavaScript keywords cannot be
/// written with escapes), the syntax tree could not have one either, so the file is CommonJS
/// (`module.exports` is not the word `export`). Most CommonJS files never reach tree-sitter.
fn module_system(
    path: &Path,
    text: impl FnOnce() -> String,
    cache: &mut HashMap<PathBuf, Option<&'static str>>,
) -> &'static str {
    if let Some(k) = JavaScript::module_by_extension(&path.to_string_lossy()) {
        return k;
    }
    if let Some(k) = path.parent().and_then(|d| JavaScript::package_type(d, cache)) {
        return k;
    }
    let text = text();
    if let Some(k) = JavaScript::module_of_instrumented(&text) {
        return k;
    }
    if !has_word(&text, "import") && !has_word(&text, "export") {
        return "cjs";
    }
    JavaScript::module_system(path, || text, cache)
}

/// Whether `word` occurs in `text` with no ASCII identifier character right before or after it.
fn has_word(text: &str, word: &str) -> bool {
    let bytes = text.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    text.match_indices(word).any(|(at, _)| {
        let end = at + word.len();
        !(at > 0 && ident(bytes[at - 1])) && !bytes.get(end).is_some_and(|&b| ident(b))
    })
}

/// `js_check.mjs`'s JSON Lines: diagnostics (paths in messages mapped from the scratch mirror to
/// the tree, columns from UTF-16 units to bytes for the overlaid files), and the files with a
/// parse error; the summary is dropped.
pub(crate) fn parse(
    out: &str,
    check_root: &Path,
    base: &Path,
    files: &BTreeMap<String, String>,
) -> (Vec<Diagnostic>, BTreeSet<String>) {
    let mut failed = BTreeSet::new();
    let from = format!("{}/", check_root.to_string_lossy());
    let to = format!("{}/", base.to_string_lossy());
    let mut diags = Vec::new();
    for line in out.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if v.get("summary").is_some() {
            continue;
        }
        let file = v["file"].as_str().unwrap_or("").to_string();
        let line_no = v["line"].as_u64().unwrap_or(0) as usize;
        let column = v["column"].as_u64().map(|c| c as usize).map(|c| match files.get(&file) {
            Some(text) => byte_column(text, line_no, c),
            None => c,
        });
        let message = v["message"].as_str().unwrap_or("").replace(&from, &to);
        if v["source"] == "parse" {
            failed.insert(file.clone());
        }
        diags.push(Diagnostic { file, line: line_no, column, message });
    }
    (diags, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_without_the_keywords_are_commonjs_without_a_parse() {
        let mut cache = HashMap::new();
        let p = Path::new("/nonexistent-teleforge/x.js");
        assert_eq!(module_system(p, || "module.exports = importScripts;\n".into(), &mut cache), "cjs");
        assert_eq!(module_system(p, || "export default 1;\n".into(), &mut cache), "esm");
        assert_eq!(module_system(p, || "x();import {a} from './a.js'\n".into(), &mut cache), "esm");
        assert_eq!(module_system(p, || "const s = `import x from 'y'`;\n".into(), &mut cache), "cjs");
        assert!(!has_word("module.exports = 1", "export"));
        // An instrumented file's runtime import decides, whatever else its text holds.
        let cjs = "/*tf{*/const __teleforgeTel = (() => { try { return require(\"./_teleforge_tel.cjs\"); } catch { return {}; } })(); /*}tf*/const s = `export default 1`;\n";
        assert_eq!(module_system(p, || cjs.into(), &mut cache), "cjs");
        let esm = "/*tf{*/import __teleforgeTel from \"./_teleforge_tel.cjs\"; /*}tf*/module.exports = 1;\n";
        assert_eq!(module_system(p, || esm.into(), &mut cache), "esm");
        assert!(has_word("(export)", "export"));
    }

    #[test]
    fn columns_count_bytes() {
        let t = "a\nconst é = 1; x y\n";
        // `x` is the 15th UTF-16 unit of line 2 and its 16th byte.
        assert_eq!(byte_column(t, 2, 15), 16);
        assert_eq!(byte_column(t, 1, 1), 1);
    }

    #[test]
    fn messages_name_the_tree_not_the_mirror() {
        let out = "{\"file\":\"a.mjs\",\"line\":2,\"column\":1,\"message\":\"Error [ERR_MODULE_NOT_FOUND]: Cannot find module '/s/tree/b.js' imported from /s/tree/a.mjs\",\"source\":\"link\"}\n{\"summary\":{\"files\":1}}\n";
        let (d, failed) = parse(out, Path::new("/s/tree"), Path::new("/r"), &BTreeMap::new());
        assert!(failed.is_empty());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].message, "Error [ERR_MODULE_NOT_FOUND]: Cannot find module '/r/b.js' imported from /r/a.mjs");
    }

    fn have_node() -> bool {
        let ok = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
        if !ok {
            assert!(std::env::var_os("CI").is_none(), "node is required in CI");
        }
        ok
    }

    #[test]
    fn checks_only_the_files_given_and_a_baseline_names_the_unparsable_ones() {
        if !have_node() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("esm")).unwrap();
        std::fs::write(root.join("esm/package.json"), r#"{"type":"module"}"#).unwrap();
        std::fs::write(root.join("esm/a.js"), "export const a = 1;\n").unwrap();
        std::fs::write(root.join("b.js"), "module.exports = 1;\n").unwrap();
        std::fs::write(root.join("broken.js"), "function (\n").unwrap();
        let v = JavaScriptValidator::default();
        v.available().unwrap();
        // Nothing runs before the first check.
        assert!(v.compiled_files(&root).unwrap().is_none());
        assert_eq!(v.preparation_cost().0, 0);
        // The whole tree, with nothing overlaid.
        let whole = v.check(&root, &BTreeMap::new()).unwrap();
        assert_eq!(whole.runs, 1);
        assert_eq!(whole.diagnostics.len(), 1, "{:?}", whole.diagnostics);
        assert_eq!(whole.diagnostics[0].file, "broken.js");
        // A baseline of some files parses those originals and names the one node cannot parse.
        let base = v.baseline(&root, &["broken.js".to_string(), "b.js".to_string()]).unwrap();
        assert_eq!(base.runs, 1);
        assert_eq!(base.unparsable.iter().collect::<Vec<_>>(), ["broken.js"]);
        // `require` in a file that package.json makes an ES module, and an import of nothing;
        // only the overlaid files are checked (broken.js is not reported), none is unparsable.
        let files = BTreeMap::from([
            ("esm/a.js".to_string(), "const x = require('./x.cjs'); export const a = 1;\n".to_string()),
            ("b.js".to_string(), "\nmodule.exports = 1; const t = require('./_t.cjs');\n".to_string()),
            ("_t.cjs".to_string(), "module.exports = {};\n".to_string()),
        ]);
        let c = v.check(&root, &files).unwrap();
        let d: Vec<(String, usize)> = c.diagnostics.iter().map(|d| (d.file.clone(), d.line)).collect();
        assert_eq!(d, vec![("esm/a.js".to_string(), 1)], "{:?}", c.diagnostics);
        assert!(c.diagnostics.iter().any(|d| d.message.contains("require is not defined in ES module scope")));
        assert!(c.unparsable.is_empty());
        let broken = v.check(&root, &BTreeMap::from([("b.js".to_string(), "function (\n".to_string())])).unwrap();
        assert_eq!(broken.diagnostics.len(), 1);
        assert!(broken.unparsable.is_empty(), "an overlaid text is not the original");
        // The tree was not touched.
        assert_eq!(std::fs::read_to_string(root.join("b.js")).unwrap(), "module.exports = 1;\n");
        assert!(!root.join("_t.cjs").exists());
    }
}
