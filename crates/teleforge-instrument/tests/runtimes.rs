//! The `Tel` runtimes and the batch validators have tests in their own languages; this runs them
//! with the real toolchains so that `cargo test --workspace` covers them too.

use std::path::{Path, PathBuf};
use std::process::Command;

fn here(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The suites time concurrent threads, workers and processes of their own: running two at once on a
/// 2-core machine only makes them slower and their timing tests noisier, so they take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs a toolchain's test command; a missing toolchain skips locally and fails in CI.
fn run(tool: &str, args: &[&str], dir: &Path) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let present = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
        || Command::new(tool).arg("version").output().is_ok_and(|o| o.status.success());
    if !present {
        assert!(std::env::var_os("CI").is_none(), "{tool} is required in CI: .ci/run must provide it");
        eprintln!("skipping: {tool} is not installed");
        return;
    }
    let out = Command::new(tool).args(args).current_dir(dir).env_remove("TELEMETRY_FILE").output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{tool} {args:?} in {} failed:\n{text}", dir.display());
    eprintln!("{}", text.lines().rev().take(3).collect::<Vec<_>>().join("\n"));
}

#[test]
fn go_runtime_tests_pass() {
    run("go", &["test", "-count=1", "./..."], &here("runtime/go"));
}

#[test]
fn python_runtime_tests_pass() {
    run("python3", &["-m", "unittest", "discover", "-s", ".", "-p", "test_*.py"], &here("runtime/python"));
}

#[test]
fn javascript_runtime_tests_pass() {
    let dir = here("runtime/javascript");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".test."))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut args = vec!["--test"];
    args.extend(files.iter().map(String::as_str));
    run("node", &args, &dir);
}

#[test]
fn python_validator_tests_pass() {
    run("python3", &["-m", "unittest", "discover", "-s", ".", "-p", "test_python_check.py"], &here("validators"));
}

#[test]
fn javascript_validator_tests_pass() {
    run("node", &["--test", "js_check.test.mjs"], &here("validators"));
}

/// The Python runtime is written beside instrumented code and checked with it: a tree whose model
/// code sends it through pyflakes must not fail on the runtime itself (every construct of the tree
/// would be left out as "does not compile with none of its constructs inserted").
#[test]
fn python_runtime_is_pyflakes_clean() {
    run("python3", &["-m", "pyflakes", "_teleforge_tel.py"], &here("runtime/python"));
}
