//! Go: `go build -overlay` over the module, so the user's tree is never touched and the go
//! command type-checks every package in one run. `-gcflags=-e` lifts the compiler's limit of ten
//! errors per package so that every failing construct is seen in the same round.
//!
//! The go command is kept from writing to the user's tree (`-mod=readonly`, no VCS stamping,
//! binaries to /dev/null). `go build` is the cheapest check that type-checks (`go vet` costs about 2.2× on a module whose
//! every file changed); the one vet finding instrumentation could cause, copying a lock, is
//! prevented by construction in the Go language module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;
use std::time::Instant;

use regex::Regex;

use super::{Check, Diagnostic, Validator};
use crate::discover::relative;
use crate::error::{Error, Result};

#[derive(Debug)]
pub struct GoValidator {
    /// From one `go list -export`: files of packages that compiled, and of packages that did not.
    listed: std::sync::Mutex<Option<(BTreeSet<String>, BTreeSet<String>)>>,
    /// What that `go list -export` cost (it compiles every package).
    list_cost: std::sync::Mutex<Option<std::time::Duration>>,
    /// Longest one go process may run.
    timeout: std::time::Duration,
    /// `go env GOMOD` per root, asked once.
    gomod: std::sync::Mutex<Option<(PathBuf, Option<PathBuf>)>>,
}

impl Default for GoValidator {
    fn default() -> Self {
        GoValidator::with_timeout(crate::pipeline::DEFAULT_CHECK_TIMEOUT)
    }
}

const INSTALL: &str = "install Go 1.21 or newer (https://go.dev/dl)";

impl GoValidator {
    /// A validator whose go processes are killed after `timeout`.
    pub fn with_timeout(timeout: std::time::Duration) -> Self {
        GoValidator {
            listed: std::sync::Mutex::new(None),
            list_cost: std::sync::Mutex::new(None),
            timeout,
            gomod: std::sync::Mutex::new(None),
        }
    }

    /// Runs a go command under the time limit, in its own process group.
    fn run(&self, cmd: &mut Command) -> Result<crate::process::Output> {
        crate::process::run(cmd, None, self.timeout).map_err(|e| super::run_error(e, missing))
    }

    fn go(&self, root: &Path) -> Command {
        let mut c = Command::new("go");
        c.current_dir(root);
        c
    }

    /// The module's go.mod, or `None` when the folder is not inside a module (an overlay then adds
    /// one, so a loose folder of Go files can still be type-checked).
    fn gomod(&self, root: &Path) -> Result<Option<PathBuf>> {
        let mut cached = self.gomod.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((r, m)) = cached.as_ref() {
            if r == root {
                return Ok(m.clone());
            }
        }
        let out = self.run(self.go(root).args(["env", "GOMOD"]))?;
        let gomod = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let found = (!(gomod.is_empty() || gomod == "/dev/null" || gomod == "NUL")).then(|| PathBuf::from(gomod));
        *cached = Some((root.to_path_buf(), found.clone()));
        Ok(found)
    }

    /// Flags that keep the go command from writing to the user's tree: `-mod=readonly` (a
    /// `GOFLAGS=-mod=mod` in the environment would let it rewrite go.mod; flags on the command line
    /// win), or `-mod=vendor` for a vendored module; no VCS stamping.
    fn read_only_flags(&self, root: &Path) -> Result<Vec<String>> {
        let vendored = self
            .gomod(root)?
            .and_then(|m| m.parent().map(|d| d.join("vendor/modules.txt")))
            .is_some_and(|v| v.is_file());
        let mode = if vendored { "-mod=vendor" } else { "-mod=readonly" };
        Ok(vec![mode.to_string(), "-buildvcs=false".to_string()])
    }

    /// Writes the overlay files and the overlay JSON into `scratch`; returns the JSON's path and
    /// each replacement file's path with the original it stands for (the compiler reports
    /// positions in the replacement files).
    fn overlay(
        &self,
        root: &Path,
        files: &BTreeMap<String, String>,
        scratch: &Path,
    ) -> Result<(PathBuf, BTreeMap<PathBuf, String>)> {
        let mut originals = BTreeMap::new();
        // Canonical, so that the compiler's relative paths resolve to the same names.
        let scratch = &scratch.canonicalize().map_err(|e| Error::io("resolving", scratch, e))?;
        let mut replace = serde_json::Map::new();
        let mut all: Vec<(String, String)> = files.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if self.gomod(root)?.is_none() {
            all.push(("go.mod".into(), "module teleforge.local/check\n\ngo 1.21\n".into()));
        }
        for (i, (rel, text)) in all.iter().enumerate() {
            let file = scratch.join(format!("{i}_{}", rel.rsplit('/').next().unwrap_or("f.go")));
            std::fs::write(&file, text).map_err(|e| Error::io("writing", &file, e))?;
            originals.insert(file.clone(), rel.clone());
            let key = root.join(rel);
            replace.insert(
                key.to_string_lossy().into_owned(),
                serde_json::Value::String(file.to_string_lossy().into_owned()),
            );
        }
        let json = serde_json::json!({ "Replace": replace });
        let path = scratch.join("overlay.json");
        std::fs::write(&path, json.to_string()).map_err(|e| Error::io("writing", &path, e))?;
        Ok((path, originals))
    }
}

impl GoValidator {
    /// One `go list -e -export` over the module: it compiles every package (the baseline build
    /// then hits the cache) and tells which files the build includes, and which packages produced
    /// no export data because they, or a dependency, failed to compile: those cannot be validated.
    fn list(&self, root: &Path) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
        let mut cache = self.listed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = cache.as_ref() {
            return Ok(l.clone());
        }
        let scratch = tempdir()?;
        let (overlay, _) = self.overlay(root, &BTreeMap::new(), scratch.path())?;
        let start = Instant::now();
        let out = self.run(
            self.go(root)
                .arg("list")
                .args(self.read_only_flags(root)?)
                .arg("-e")
                .arg("-export")
                .arg(format!("-overlay={}", overlay.display()))
                .args(["-f", "{{.Dir}}\t{{.Export}}\t{{join .GoFiles \"\t\"}}", "./..."]),
        )?;
        let (mut compiled, mut broken) = (BTreeSet::new(), BTreeSet::new());
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut parts = line.split('\t');
            let (Some(dir), Some(export)) = (parts.next(), parts.next()) else { continue };
            let target = if export.is_empty() { &mut broken } else { &mut compiled };
            for f in parts.filter(|f| !f.is_empty()) {
                target.insert(relative(root, &Path::new(dir).join(f)));
            }
        }
        *self.list_cost.lock().unwrap_or_else(|e| e.into_inner()) = Some(start.elapsed());
        *cache = Some((compiled.clone(), broken.clone()));
        Ok((compiled, broken))
    }
}

fn missing(e: &std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::ToolchainMissing { tool: "go", install: INSTALL }
    } else {
        Error::Toolchain { tool: "go", detail: e.to_string() }
    }
}

impl Validator for GoValidator {
    fn language(&self) -> &'static str {
        "go"
    }

    fn available(&self) -> Result<()> {
        self.run(Command::new("go").arg("version")).map(|_| ())
    }

    fn compiled_files(&self, root: &Path) -> Result<Option<BTreeSet<String>>> {
        Ok(Some(self.list(root)?.0))
    }

    fn unbuildable_files(&self, root: &Path) -> Result<BTreeSet<String>> {
        Ok(self.list(root)?.1)
    }

    fn preparation_cost(&self) -> (usize, std::time::Duration) {
        match *self.list_cost.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(t) => (1, t),
            None => (0, std::time::Duration::ZERO),
        }
    }

    fn check(&self, root: &Path, files: &BTreeMap<String, String>) -> Result<Check> {
        let scratch = tempdir()?;
        let (overlay, originals) = self.overlay(root, files, scratch.path())?;
        let packages = packages_of(files);
        let start = Instant::now();
        // `-o /dev/null`: a lone main package would otherwise leave its binary in the user's tree.
        let out = self.run(
            self.go(root)
                .arg("build")
                .args(self.read_only_flags(root)?)
                .arg(format!("-overlay={}", overlay.display()))
                .args(["-o", "/dev/null", "-gcflags=-e"])
                .args(&packages),
        )?;
        let elapsed = start.elapsed();
        let text = String::from_utf8_lossy(&out.stderr);
        let mut diagnostics = parse(root, &text, &originals);
        if !out.status.success() && diagnostics.is_empty() {
            diagnostics.push(Diagnostic {
                file: String::new(),
                line: 0,
                column: None,
                message: text.trim().to_string(),
            });
        }
        Ok(Check { diagnostics, runs: 1, elapsed, ..Default::default() })
    }
}

/// What a check builds: with nothing overlaid (the baseline), every package of the module
/// (`./...`); otherwise only the packages that hold an overlaid file (`./dir`, `.`).
///
/// Insertions change function bodies, name results (which does not change a function's type) and
/// add the runtime file (one exported name, `Tel`, of an unexported type), so they cannot break a
/// package that imports an instrumented one: building just the changed packages checks what they
/// can break. The one exception is not checked: an uninstrumented package that dot-imports an
/// instrumented one and declares its own `Tel`.
/// It also keeps two costs out of every round: `-gcflags=-e` applies to the packages named on the
/// command line, so unchanged packages of the module are served from the build cache (compiled by
/// the user's own build, or by `go list -export`) instead of being recompiled with other flags; and
/// packages that do not build before instrumentation (their files are never instrumented) report
/// nothing, so they no longer force a baseline build of the original.
fn packages_of(files: &BTreeMap<String, String>) -> Vec<String> {
    let dirs: BTreeSet<String> = files
        .keys()
        .filter(|rel| rel.ends_with(".go"))
        .map(|rel| match rel.rsplit_once('/') {
            Some((dir, _)) => format!("./{dir}"),
            None => ".".to_string(),
        })
        .collect();
    if dirs.is_empty() {
        vec!["./...".to_string()]
    } else {
        dirs.into_iter().collect()
    }
}

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("teleforge-go-")
        .tempdir()
        .map_err(|e| Error::io("creating", std::env::temp_dir(), e))
}

/// `path/file.go:12:5: message` lines (continuation lines that start with a tab join the one
/// above); `# package` headers are dropped.
pub(crate) fn parse(root: &Path, text: &str, originals: &BTreeMap<PathBuf, String>) -> Vec<Diagnostic> {
    static LOCATED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(?:vet: )?(.+?\.go):(\d+)(?::(\d+))?: (.*)$").unwrap());
    let mut out: Vec<Diagnostic> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with('\t') || line.starts_with("  ") {
            if let Some(last) = out.last_mut() {
                last.message.push('\n');
                last.message.push_str(line.trim());
            }
            continue;
        }
        if let Some(c) = LOCATED.captures(line) {
            let path = Path::new(&c[1]);
            let abs = normalize(&if path.is_absolute() { path.to_path_buf() } else { root.join(path) });
            let file = originals.get(&abs).cloned().unwrap_or_else(|| relative(root, &abs));
            out.push(Diagnostic {
                file,
                line: c[2].parse().unwrap_or(0),
                column: c.get(3).and_then(|m| m.as_str().parse().ok()),
                message: c[4].to_string(),
            });
        } else if !line.contains("too many errors") {
            out.push(Diagnostic { file: String::new(), line: 0, column: None, message: line.to_string() });
        }
    }
    out
}

/// Resolves `.` and `..` components lexically (`root/./main.go`, `root/../tmp/x/0_main.go`).
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_build_output() {
        let out = "# example.com/x\n./main.go:9:9: not enough arguments in call to f\n\thave ()\n\twant (int)\nsub/a.go:3:2: undefined: Tel\n";
        let d = parse(Path::new("/r"), out, &BTreeMap::new());
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].file.as_str(), d[0].line, d[0].column), ("main.go", 9, Some(9)));
        assert!(d[0].message.ends_with("want (int)"));
        assert_eq!(d[1].file, "sub/a.go");
    }

    #[test]
    fn positions_in_overlay_files_map_back_to_the_originals() {
        let originals = BTreeMap::from([(PathBuf::from("/tmp/ov/0_main.go"), "cmd/main.go".to_string())]);
        let d = parse(Path::new("/r/m"), "../../tmp/ov/0_main.go:8:127: Tel.FuncExit undefined\n", &originals);
        assert_eq!(d[0].file, "cmd/main.go");
    }
}
