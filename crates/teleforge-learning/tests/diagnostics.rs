//! The classifier against real diagnostics: the outputs checked in under `tests/data/diagnostics`
//! (printed by go 1.26, Python 3.11, pyflakes and node 20 on small broken files), and the same
//! broken files run again through whatever toolchains this machine has, so a toolchain whose
//! wording changed is noticed.

use std::path::{Path, PathBuf};
use std::process::Command;

use teleforge_learning::classify::{category_of, classify_output};

struct Case {
    language: String,
    name: String,
    dir: PathBuf,
    expected: String,
}

fn cases() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/diagnostics");
    let mut out = Vec::new();
    for lang in ["go", "python", "javascript"] {
        let mut dirs: Vec<PathBuf> =
            std::fs::read_dir(root.join(lang)).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        for dir in dirs {
            let expected = std::fs::read_to_string(dir.join("expected")).unwrap().trim().to_string();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            out.push(Case { language: lang.to_string(), name, dir, expected });
        }
    }
    assert!(out.len() >= 50, "test data missing: {} cases", out.len());
    out
}

#[test]
fn checked_in_outputs_classify_as_expected() {
    let mut wrong = Vec::new();
    for c in cases() {
        let output = std::fs::read_to_string(c.dir.join("output.txt")).unwrap();
        let got = classify_output(&c.language, &output).map(|k| k.pattern).unwrap_or_default();
        if got != c.expected {
            wrong.push(format!("{}/{}: expected {}, got {got}", c.language, c.name, c.expected));
        }
    }
    assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
}

#[test]
fn every_expected_pattern_has_a_real_category() {
    for c in cases() {
        // Known names come from the tables; a typo in `expected` would fall back to Other.
        assert!(teleforge_learning::classify::rule(&c.expected).is_some(), "{}: unknown {}", c.name, c.expected);
        let _ = category_of(&c.expected);
    }
}

fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd).args(args).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Missing tools skip their cases locally, but in CI (`CI` set) a missing tool is a failure:
/// `.ci/run` installs what these tests need.
fn require(tool: &str, present: bool) -> bool {
    if !present {
        assert!(std::env::var_os("CI").is_none(), "{tool} is required in CI: .ci/run must install it");
        eprintln!("skipping {tool} cases: {tool} is not installed");
    }
    present
}

#[test]
fn live_toolchains_still_print_what_we_classify() {
    let go = require("go", have("go", &["version"]));
    let python = require("python3", have("python3", &["--version"]));
    let pyflakes = python && require("pyflakes", have("python3", &["-m", "pyflakes", "--version"]));
    let node = require("node", have("node", &["--version"]));
    let scratch = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    let mut ran = 0;
    for c in cases() {
        let cmd = std::fs::read_to_string(c.dir.join("cmd")).unwrap();
        let usable = match c.language.as_str() {
            "go" => go,
            "python" if cmd.contains("pyflakes") => pyflakes,
            "python" => python,
            _ => node,
        };
        if !usable {
            continue;
        }
        // Run in a copy: toolchains may write caches or bytecode beside the sources.
        let work = scratch.path().join(&c.language).join(&c.name);
        copy_dir(&c.dir, &work);
        let out = Command::new("sh")
            .arg("-c")
            .arg(cmd.trim())
            .current_dir(&work)
            .env("HOME", scratch.path().join("home"))
            .env("GOPATH", scratch.path().join("gopath"))
            .env("GOCACHE", scratch.path().join("gocache"))
            .env("GOFLAGS", "-mod=mod")
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap();
        ran += 1;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let got = classify_output(&c.language, &text).map(|k| k.pattern).unwrap_or_default();
        if got != c.expected {
            wrong.push(format!("{}/{}: expected {}, got {got} from:\n{text}", c.language, c.name, c.expected));
        }
    }
    eprintln!("ran {ran} live toolchain cases");
    assert!(wrong.is_empty(), "misclassified live output:\n{}", wrong.join("\n"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}
