//! Helpers shared by the CLI tests that instrument real trees.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Whether `tool --version` (or `go version`) runs; a missing tool skips locally and fails in CI.
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
        || Command::new(tool).arg("version").output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "{tool} is required in CI: .ci/run must provide it");
        eprintln!("skipping: {tool} is not installed");
    }
    ok
}

/// Runs `teleforge --storage-dir store ARGS`.
pub fn tf(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_teleforge")).arg("--storage-dir").arg(store).args(args).output().unwrap()
}

/// stdout and stderr together, for failure messages.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Copies a folder recursively.
pub fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Every file below `dir` with its bytes (caches left out), sorted: trees compare byte for byte.
pub fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "__pycache__") {
                    continue;
                }
                stack.push(p);
            } else {
                out.push((p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// JSON Lines events written by a `Tel` runtime.
pub fn events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad event line {l}: {e}")))
        .collect()
}

/// Whether `python3 -c "import NAME"` works; missing skips locally and fails in CI.
pub fn have_python_module(name: &str) -> bool {
    let ok = Command::new("python3").args(["-c", &format!("import {name}")]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "python module {name} is required in CI: .ci/run must install it");
        eprintln!("skipping: python module {name} is not installed");
    }
    ok
}
