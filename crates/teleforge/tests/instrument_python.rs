//! `teleforge instrument` and `strip` on real Python trees, run with the real interpreter.

mod support;

use std::path::Path;
use std::process::Command;

use support::{copy, files, have, text, tf};

fn py(dir: &Path, args: &[&str], events: Option<&Path>) -> String {
    let mut c = Command::new("python3");
    c.args(args).current_dir(dir).env("PYTHONDONTWRITEBYTECODE", "1").env_remove("TELEMETRY_FILE");
    if let Some(e) = events {
        c.env("TELEMETRY_FILE", e);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "python3 {args:?} failed in {}:\n{}", dir.display(), text(&o));
    assert!(o.stderr.is_empty() || args.contains(&"unittest"), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn tricky_python_keeps_its_output_lines_and_emits_events() {
    if !have("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/python/tricky"), &src);
    let out = tmp.path().join("out");
    let store = tmp.path().join("store");
    let o = tf(&store, &["instrument", src.to_str().unwrap(), "-e", ".py", "--out", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["left_out"].as_array().unwrap().len(), 0, "{s}");
    assert!(s["constructs_instrumented"].as_u64().unwrap() >= 30, "{s}");
    assert_eq!(s["compiler_runs"], 1, "{s}");
    assert_eq!(s["files_skipped"]["test file"], 1, "{s}");

    let original = py(&src, &["main.py"], None);
    assert_eq!(py(&out, &["main.py"], None), original, "output changed with telemetry off");
    let ev = tmp.path().join("events.jsonl");
    assert_eq!(py(&out, &["main.py"], Some(&ev)), original, "output changed with telemetry on");
    let events: Vec<serde_json::Value> =
        std::fs::read_to_string(&ev).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["code.function.name"].as_str()).collect();
    for f in [
        "main.main",
        "main.outer",
        "main.outer.<locals>.inner",
        "main.gen",
        "main.fetch",
        "main.agen",
        "main.fib",
        "main.one_liner",
        "pkg.shapes.Square.area",
        "pkg.shapes.Shape.kind",
        "pkg.shapes.Square.unit",
        "pkg.tabbed.tabbed_sum",
    ] {
        assert!(names.contains(&f), "no events for {f}: {names:?}");
    }
    // A generator's return value is its result; the caller is the parent across modules.
    let gen_exit = events.iter().find(|e| e["kind"] == "func_exit" && e["code.function.name"] == "main.gen").unwrap();
    assert_eq!(gen_exit["results"], serde_json::json!(["done"]));
    let main_span =
        events.iter().find(|e| e["kind"] == "func_entry" && e["code.function.name"] == "main.main").unwrap()["span_id"]
            .clone();
    let area = events
        .iter()
        .find(|e| e["kind"] == "func_entry" && e["code.function.name"] == "pkg.shapes.Square.area")
        .unwrap();
    assert_eq!(area["parent_span_id"], main_span, "parent lost across modules");
    let hot = events.iter().filter(|e| e["kind"] == "loop_iter" && e["code.line.number"] == 97).count();
    assert!(hot > 0 && hot < 200, "hot loop wrote {hot} events");

    // Lines: every function here has an empty line above or a simple first statement, so every
    // original line keeps its number (the probes print line numbers).
    assert!(original.contains("probe line: 15") && original.contains("raise line: 75"), "{original}");
    for f in ["main.py", "pkg/shapes.py", "pkg/tabbed.py"] {
        let a = std::fs::read_to_string(src.join(f)).unwrap();
        let b = std::fs::read_to_string(out.join(f)).unwrap();
        assert_eq!(a.lines().count(), b.lines().count(), "{f} gained lines:\n{b}");
    }
    // Tabs stay tabs.
    let tabbed = std::fs::read_to_string(out.join("pkg/tabbed.py")).unwrap();
    assert!(
        tabbed.contains("\n\ttotal = 0; _teleforge.on and _teleforge.var_assign(")
            || tabbed.contains("\t_teleforge.func_entry("),
        "{tabbed}"
    );
    // The package's own tests still pass, and the runtime sits beside every instrumented module.
    py(&out, &["-m", "unittest", "discover", "-s", ".", "-p", "test_*.py"], None);
    assert!(out.join("_teleforge_tel.py").exists() && out.join("pkg/_teleforge_tel.py").exists());

    // Twice changes nothing; strip restores the bytes.
    let again = tf(&store, &["instrument", out.to_str().unwrap(), "--in-place", "--json"]);
    let s2: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(s2["constructs_found"], 0, "{s2}");
    let stripped = tmp.path().join("stripped");
    let o = tf(&store, &["strip", out.to_str().unwrap(), "--out", stripped.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(files(&stripped), files(&src), "instrument then strip is not byte-identical");
}

#[test]
fn a_module_docstring_and_future_import_stay_first() {
    if !have("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("app.py"),
        "#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\nfrom __future__ import division\ndef f(x: int) -> int:\n    if x:\n        return x\n    return 0\nprint(f(2), __doc__)\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = tf(&tmp.path().join("store"), &["instrument", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let app = std::fs::read_to_string(out.join("app.py")).unwrap();
    assert!(app.starts_with("#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\nfrom __future__ import division; _teleforge = "), "{app}");
    assert_eq!(py(&out, &["app.py"], None), "2 Doc.\n");
    // f has neither an empty line above nor a simple first statement: its decorator takes a line.
    assert!(app.contains("@_teleforge.instrument(\"app.f\", \"app.py\", 6)  # teleforge+\ndef f"), "{app}");
}

#[test]
fn an_error_the_code_already_had_is_not_blamed_when_its_line_number_moves() {
    if !have("python3") || !support::have_python_module("pyflakes") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    // `helper` is redefined unused (pyflakes: "redefinition of unused 'helper' from line 1"), and
    // `g` (no empty line above, compound first statement) gets a decorator line that moves it.
    std::fs::write(
        src.join("m.py"),
        // (The comment names `_teleforge`, so the instrumented copy gets the full check, pyflakes
        // included, as a file whose own code names teleforge's handle does.)
        "def helper():\n    return 1\ndef g(x):\n    if x:\n        return x\n    return 0\ndef helper():\n    return 2\n# _teleforge\n",
    )
    .unwrap();
    let o = tf(&tmp.path().join("store"), &["instrument", src.to_str().unwrap(), "--diff", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["left_out"].as_array().unwrap().len(), 0, "{s}");
    // The check found the old error, so the original was checked too.
    assert_eq!(s["compiler_runs"], 2, "{s}");
    assert_eq!(s["baseline_runs"], 1, "{s}");
}

/// The runtime import needs no module of the standard library (it is the builtin `__import__`
/// with level 1): the standard library's own `importlib` package, instrumented and imported in
/// place of the original, imports its runtime without importing itself half-initialised (the
/// import through `importlib.import_module` failed there with a circular import).
#[test]
fn an_instrumented_importlib_package_imports_its_runtime() {
    if !have("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let stdlib = Command::new("python3")
        .args(["-c", "import sysconfig;print(sysconfig.get_paths()['stdlib'])"])
        .output()
        .unwrap();
    let stdlib = std::path::PathBuf::from(String::from_utf8_lossy(&stdlib.stdout).trim());
    let src = tmp.path().join("src");
    copy(&stdlib.join("importlib"), &src.join("importlib"));
    let _ = std::fs::remove_dir_all(src.join("importlib/__pycache__"));
    let out = tmp.path().join("out");
    let store = tmp.path().join("store");
    let o = tf(&store, &["instrument", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(s["constructs_instrumented"].as_u64().unwrap() > 100, "{s}");
    assert_eq!(s["left_out"].as_array().unwrap().len(), 0, "{s}");
    let script = "import sys; sys.path.insert(0, sys.argv[1]); import importlib; \
                  assert importlib.__file__.startswith(sys.argv[1]), importlib.__file__; \
                  print(importlib.import_module('json').dumps([1]))";
    for events in [None, Some(tmp.path().join("events.jsonl"))] {
        let mut c = Command::new("python3");
        c.args(["-S", "-c", script]).arg(&out).env("PYTHONDONTWRITEBYTECODE", "1").env_remove("TELEMETRY_FILE");
        if let Some(e) = &events {
            c.env("TELEMETRY_FILE", e);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[1]");
    }
    assert!(std::fs::metadata(tmp.path().join("events.jsonl")).unwrap().len() > 0);
}
