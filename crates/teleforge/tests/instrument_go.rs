//! `teleforge instrument` and `strip` on real Go trees, built and run with the real go command.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{copy, events, files, have, text, tf};

/// Runs `go run .` in `dir`, with telemetry going to `events` when given.
fn go_run(dir: &Path, events: Option<&Path>) -> String {
    let mut c = Command::new("go");
    c.args(["run", "."]).current_dir(dir).env("GOFLAGS", "-mod=mod").env_remove("TELEMETRY_FILE");
    if let Some(e) = events {
        c.env("TELEMETRY_FILE", e);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "go run failed in {}:\n{}", dir.display(), text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn tricky() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/go/tricky")
}

#[test]
fn tricky_go_keeps_its_output_and_emits_events() {
    if !have("go") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    copy(&tricky(), &src);
    let out = tmp.path().join("out");
    let store = tmp.path().join("store");
    let o = tf(&store, &["instrument", src.to_str().unwrap(), "-e", ".go", "--out", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["left_out"].as_array().unwrap().len(), 0, "{summary}");
    assert!(summary["constructs_instrumented"].as_u64().unwrap() >= 30, "{summary}");
    // One baseline and one round: compiler runs do not grow with constructs.
    // `go list -export` (which files the build includes; it compiles every package) and one
    // round; the original is not compiled again when the instrumented tree builds clean.
    assert_eq!(summary["compiler_runs"], 2, "{summary}");
    assert_eq!(summary["baseline_runs"], 0, "{summary}");
    assert_eq!(summary["learnings_captured"], summary["constructs_instrumented"]);

    let original = go_run(&src, None);
    let ev_path = tmp.path().join("events.jsonl");
    assert_eq!(go_run(&out, None), original, "output changed with telemetry off");
    assert!(!ev_path.exists());
    assert_eq!(go_run(&out, Some(&ev_path)), original, "output changed with telemetry on");
    let evs = events(&ev_path);
    let names: Vec<&str> = evs.iter().filter_map(|e| e["code.function.name"].as_str()).collect();
    for f in [
        "main.divide",
        "main.pair",
        "main.Sum",
        "main.(*Stack).Push",
        "main.Stack.Len",
        "main.countdown",
        "main.main.func1",
        "util.Reverse",
        "main.init",
    ] {
        assert!(names.contains(&f), "no events for {f}: {names:?}");
    }
    // Named and named-for-us results are reported; the nosplit function and the generated file
    // are left alone; the hot loop is sampled.
    let divide_exit =
        evs.iter().find(|e| e["kind"] == "func_exit" && e["code.function.name"] == "main.divide").unwrap();
    assert_eq!(divide_exit["results"][0], 3);
    let pair_exit = evs.iter().find(|e| e["kind"] == "func_exit" && e["code.function.name"] == "main.pair").unwrap();
    assert_eq!(pair_exit["results"], serde_json::json!(["GO", 2]));
    assert!(!names.contains(&"main.fast") && !names.contains(&"util.Generated"));
    let hot = evs.iter().filter(|e| e["kind"] == "loop_iter" && e["code.line.number"] == 127).count();
    assert!(hot > 0 && hot < 200, "hot loop wrote {hot} events");
    // Entry and exit of one call share a span; a callee's parent is its caller.
    let main_span = evs.iter().find(|e| e["kind"] == "func_entry" && e["code.function.name"] == "main.main").unwrap()
        ["span_id"]
        .clone();
    let divide_entry =
        evs.iter().find(|e| e["kind"] == "func_entry" && e["code.function.name"] == "main.divide").unwrap();
    assert_eq!(divide_entry["parent_span_id"], main_span);

    let text_main = std::fs::read_to_string(out.join("main.go")).unwrap();
    assert!(text_main.contains("func fast(x int) int { return x + 1 }"), "nosplit function was touched");
    // Line numbers hold: every original line is still on its line.
    let orig_main = std::fs::read_to_string(src.join("main.go")).unwrap();
    assert_eq!(orig_main.lines().count(), text_main.lines().count());
    // The build-tagged file for other platforms and the test file are untouched.
    assert_eq!(
        std::fs::read(src.join("util/platform_other.go")).unwrap(),
        std::fs::read(out.join("util/platform_other.go")).unwrap()
    );
    assert_eq!(
        std::fs::read(src.join("util/util_test.go")).unwrap(),
        std::fs::read(out.join("util/util_test.go")).unwrap()
    );
    // The package's own tests still pass.
    let t = Command::new("go").args(["test", "./..."]).current_dir(&out).output().unwrap();
    assert!(t.status.success(), "{}", text(&t));
    let v = Command::new("go").args(["vet", "./..."]).current_dir(&out).output().unwrap();
    assert!(v.status.success(), "go vet: {}", text(&v));

    // Instrumenting the output again changes nothing; strip gives back the original bytes.
    let again = tf(&store, &["instrument", out.to_str().unwrap(), "--in-place", "--json"]);
    let s2: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(s2["constructs_found"], 0, "{s2}");
    let stripped = tmp.path().join("stripped");
    let o = tf(&store, &["strip", out.to_str().unwrap(), "--out", stripped.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(files(&stripped), files(&src), "instrument then strip is not byte-identical");
}

#[test]
fn diff_writes_nothing_and_in_place_edits_the_tree() {
    if !have("go") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("demo");
    copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/golang/telemetry_demo"), &src);
    let before = files(&src);
    let store = tmp.path().join("store");
    let o = tf(&store, &["instrument", src.to_str().unwrap(), "--diff"]);
    assert!(o.status.success(), "{}", text(&o));
    let diff = String::from_utf8_lossy(&o.stdout);
    assert!(diff.contains("+++ b/main.go") && diff.contains("+++ b/teleforge_tel.go"), "{diff}");
    assert_eq!(files(&src), before, "--diff wrote to the tree");
    assert!(!tmp.path().join("demo-instrumented").exists());

    let o = tf(&store, &["instrument", src.to_str().unwrap(), "--in-place"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read_to_string(src.join("main.go")).unwrap().contains("Tel.FuncEntry"));
    assert!(src.join("inventory/teleforge_tel.go").exists());
    // The OTLP exporter goes beside the runtime (compiled only with `-tags teleforge_otlp`), and
    // strip removes it with the rest.
    assert!(src.join("inventory/teleforge_tel_otlp.go").exists());
    let o = tf(&store, &["strip", src.to_str().unwrap(), "--in-place"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(files(&src), before);

    // The default output is a copy beside the input.
    let o = tf(&store, &["instrument", src.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(tmp.path().join("demo-instrumented/teleforge_tel.go").exists());
}

#[test]
fn a_package_that_already_declares_tel_is_left_out_and_the_failures_are_captured() {
    if !have("go") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("clash");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("go.mod"), "module example.com/clash\n\ngo 1.21\n").unwrap();
    std::fs::write(
        src.join("main.go"),
        "package main\n\nimport \"fmt\"\n\n// Tel is the user's own name.\nvar Tel = \"mine\"\n\nfunc greet(name string) string {\n\treturn \"hi \" + name\n}\n\nfunc main() { fmt.Println(greet(Tel)) }\n",
    )
    .unwrap();
    let store = tmp.path().join("store");
    let out = tmp.path().join("out");
    let o = tf(
        &store,
        &["instrument", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json", "--max-attempts", "2"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["constructs_instrumented"], 0, "{s}");
    assert_eq!(s["left_out"].as_array().unwrap().len(), 2);
    assert!(s["left_out"][0]["reason"].as_str().unwrap().contains("Tel"), "{s}");
    // Nothing that fails validation is written: the copy is the original.
    assert_eq!(files(&out), files(&src));
    // The package fails with none of its constructs inserted (the runtime clashes with the
    // user's `Tel`): no form is to blame, so none is captured as a failure, and the reason says so.
    assert!(s["left_out"][0]["reason"].as_str().unwrap().contains("none of its constructs"), "{s}");
    let st = tf(&store, &["stats", "--language", "go", "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(stats[0]["failures"], 0, "{stats}");
}

#[test]
fn validate_cmd_failure_writes_nothing() {
    if !have("go") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("demo");
    copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/golang/telemetry_demo"), &src);
    let before = files(&src);
    let store = tmp.path().join("store");
    let o =
        tf(&store, &["instrument", src.to_str().unwrap(), "--in-place", "--validate-cmd", "go vet ./... && exit 3"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--validate-cmd"), "{}", text(&o));
    assert_eq!(files(&src), before);
    let o = tf(
        &store,
        &["instrument", src.to_str().unwrap(), "--in-place", "--validate-cmd", "go vet ./... && go run . >/dev/null"],
    );
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn without_go_on_path_the_error_names_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("x");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("main.go"), "package main\n\nfunc main() {}\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_teleforge"))
        .arg("--storage-dir")
        .arg(tmp.path().join("store"))
        .args(["instrument", src.to_str().unwrap(), "--diff"])
        .env("PATH", tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(69), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("go not found on PATH") && err.contains("--no-validate"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let o = Command::new(env!("CARGO_BIN_EXE_teleforge"))
        .arg("--storage-dir")
        .arg(tmp.path().join("store"))
        .args(["instrument", src.to_str().unwrap(), "--diff", "--no-validate"])
        .env("PATH", tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("NOT validated"));
}

#[test]
fn a_form_that_failed_in_this_context_before_is_tried_last() {
    if !have("go") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    copy(&tricky(), &src);
    let store = tmp.path().join("store");
    // An earlier run (another generator, another machine) found that the results form fails for
    // functions with named results; its learnings were imported and consolidated.
    let signature = "kind=function;closure=no;generic=no;receiver=none;results=named;variadic=no";
    let mut history = String::new();
    for run in ["r1", "r2"] {
        history.push_str(&format!(
            "{{\"language\":\"go\",\"construct_type\":\"function\",\"attempt_number\":1,\"success\":false,\"generated_code\":\"defer func(teleforgeS *teleforgeSpan) {{ Tel.FuncExit(teleforgeS, q, err) }}(...)\",\"validation_errors\":[\"main.go:20:1: result parameter q not in scope at return\"],\"run_id\":\"{run}\",\"context\":{{\"form\":\"go.func.results\",\"signature\":\"{signature}\",\"subject\":\"main.go:20:function:main.divide\"}}}}\n"
        ));
    }
    let file = tmp.path().join("history.jsonl");
    std::fs::write(&file, history).unwrap();
    assert!(tf(&store, &["learnings", "import", file.to_str().unwrap()]).status.success());
    assert!(tf(&store, &["consolidate", "--language", "go"]).status.success());
    // No construct explores (tries a demoted form first anyway): the order is what is tested.
    std::fs::write(src.join("teleforge.toml"), "[learning]\nexplore_share = 0.0\n").unwrap();

    let out = tmp.path().join("out");
    let o = tf(&store, &["instrument", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // divide is the only function with that signature: its first form was moved last, and the
    // next one validated on attempt 1.
    assert_eq!(s["constructs_reordered_by_learning"], 1, "{s}");
    assert_eq!(s["first_attempt_successes"], s["constructs_instrumented"], "{s}");
    let listed = tf(&store, &["learnings", "list", "--language", "go", "--successes", "--limit", "500", "--json"]);
    let divide: Vec<serde_json::Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["context"]["subject"].as_str().unwrap_or("").ends_with(":function:main.divide"))
        .collect();
    assert_eq!(divide.len(), 1);
    assert_eq!(divide[0]["context"]["form"], "go.func.args");
    assert_eq!(divide[0]["attempt_number"], 1);
    let main_go = std::fs::read_to_string(out.join("main.go")).unwrap();
    assert!(main_go.contains("if teleforgeS := Tel.FuncEntry(\"main.divide\""), "{main_go}");
}

#[test]
fn a_package_that_does_not_build_before_is_skipped_and_its_error_not_blamed() {
    if !have("go") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("m");
    std::fs::create_dir_all(src.join("broken")).unwrap();
    std::fs::create_dir_all(src.join("user")).unwrap();
    std::fs::write(src.join("go.mod"), "module example.com/m\n\ngo 1.21\n").unwrap();
    std::fs::write(
        src.join("broken/b.go"),
        "package broken\n\nfunc Bad() int { return \"no\" }\n\nfunc Fine() int { return 1 }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("user/u.go"),
        "package user\n\nimport \"example.com/m/broken\"\n\nfunc Use() int { return broken.Fine() }\n",
    )
    .unwrap();
    std::fs::write(src.join("ok.go"), "package m\n\nfunc Ok(x int) int { return x }\n").unwrap();
    let o = tf(&tmp.path().join("store"), &["instrument", src.to_str().unwrap(), "--diff", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // broken/ fails itself, user/ depends on it: neither can be type-checked, so neither is touched.
    assert_eq!(s["files_skipped"]["its package does not build before instrumentation"], 2, "{s}");
    assert_eq!(s["constructs_instrumented"], 1, "{s}");
    assert_eq!(s["left_out"].as_array().unwrap().len(), 0, "{s}");
}

/// `patterns verify` replays a pattern's failing attempt on today's tree: while it still fails, the
/// pattern is verified and stays active.
#[test]
fn verify_keeps_a_pattern_whose_failing_attempt_still_fails() {
    if !have("go") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("go.mod"), "module example.com/clash\n\ngo 1.21\n").unwrap();
    std::fs::write(
        src.join("main.go"),
        "package main\n\nimport \"fmt\"\n\nfunc greet(name string) string {\n\treturn \"hi \" + name\n}\n\nfunc main() { fmt.Println(greet(\"x\")) }\n",
    )
    .unwrap();
    // Which forms work where, from a clean run.
    let fresh = tmp.path().join("fresh");
    let o = tf(&fresh, &["instrument", src.to_str().unwrap(), "--diff", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let listed = tf(&fresh, &["learnings", "list", "--language", "go", "--json"]);
    // The same attempts recorded as failures by two runs: the package declared its own `Tel` then.
    let mut history = String::new();
    for run in ["r1", "r2"] {
        for line in String::from_utf8_lossy(&listed.stdout).lines() {
            let mut l: serde_json::Value = serde_json::from_str(line).unwrap();
            l["success"] = false.into();
            l["validation_errors"] = serde_json::json!(["tel.go:3:5: Tel redeclared in this block"]);
            l["error_pattern"] = "go_redeclared".into();
            l["run_id"] = run.into();
            l.as_object_mut().unwrap().remove("hash");
            history.push_str(&format!("{l}\n"));
        }
    }
    let file = tmp.path().join("history.jsonl");
    std::fs::write(&file, history).unwrap();
    let store = tmp.path().join("store");
    assert!(tf(&store, &["learnings", "import", file.to_str().unwrap()]).status.success(), "import");
    assert!(tf(&store, &["consolidate", "--language", "go"]).status.success());
    // Today the package declares its own `Tel` again: the failing attempt still fails.
    std::fs::write(src.join("tel.go"), "package main\n\nvar Tel = \"mine\"\n").unwrap();
    let o = tf(&store, &["patterns", "verify", src.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["pattern"], "go_redeclared", "{v}");
    assert_eq!(v[0]["outcome"], "verified", "{v}");
    let listed = tf(&store, &["patterns", "list", "--language", "go", "--json"]);
    let p: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(p[0]["status"], "active", "{p}");
    // Once the clash is gone, the same replay passes: stale.
    std::fs::remove_file(src.join("tel.go")).unwrap();
    let o = tf(&store, &["patterns", "verify", src.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["outcome"], "stale", "{v}");
}
