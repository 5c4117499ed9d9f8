//! Runs the real `teleforge` binary on temp folders: the seed's commands, its formats, and what
//! happens with bad input and many writers at once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_teleforge"));
    c.env_remove("TELEMETRY_LEARNINGS_DIR").env("NO_COLOR", "1");
    c
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// Runs teleforge with `--storage-dir dir` and `args`.
fn tf(dir: &Path, args: &[&str]) -> Output {
    bin().arg("--storage-dir").arg(dir).args(args).output().unwrap()
}

fn tf_stdin(dir: &Path, args: &[&str], input: &str) -> Output {
    let mut child = bin()
        .arg("--storage-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: Output) -> String {
    assert!(o.status.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), stdout(&o), stderr(&o));
    stdout(&o)
}

fn total(dir: &Path, language: &str) -> u64 {
    let out = ok(tf(dir, &["stats", "--language", language, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0]["total"].as_u64().unwrap()
}

fn import_examples(dir: &Path) {
    let examples = repo().join("examples/learnings");
    let files: Vec<String> = ["go", "python", "javascript"]
        .iter()
        .map(|l| examples.join(format!("{l}_learnings.json")).display().to_string())
        .collect();
    let mut args = vec!["learnings", "import"];
    args.extend(files.iter().map(String::as_str));
    ok(tf(dir, &args));
}

#[test]
fn consolidate_prints_the_seed_statistics_and_patterns() {
    let dir = tempfile::tempdir().unwrap();
    import_examples(dir.path());
    let out = ok(tf(dir.path(), &["consolidate", "--language", "go"]));
    let expected = "📊 Statistics:
  Total learnings: 15
  Failures: 10
  Successes: 5
  Success rate: 33.3%

  By construct type:
    function: 12 total (4 ✓ / 8 ✗)
    loop: 3 total (1 ✓ / 2 ✗)

  Error patterns:
    go_import_error: 6x
    go_undefined_tel: 3x
    go_type_error: 1x

✅ Created 2 consolidated patterns
  📋 go_import_error (6 occurrences, 67% success rate)
  📋 go_undefined_tel (3 occurrences, 33% success rate)
";
    assert!(out.starts_with(expected), "got:\n{out}");

    // go_patterns.json: the seed's exact fields, in its order.
    let text = std::fs::read_to_string(dir.path().join("go_patterns.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let first = v[0].as_object().unwrap();
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    let mut seed_keys = vec![
        "pattern_name",
        "language",
        "construct_type",
        "occurrence_count",
        "success_rate",
        "bad_example",
        "good_example",
        "why_fails",
        "how_to_fix",
        "learning_hashes",
        "last_updated",
    ];
    // Every seed field, and ours beside them.
    let ours = ["category", "status", "status_reason", "evidence"];
    let mut sorted: Vec<&str> = keys.iter().copied().filter(|k| !ours.contains(k)).collect();
    sorted.sort();
    seed_keys.sort();
    assert_eq!(sorted, seed_keys);
    assert_eq!(v[0]["status"], "active");
    assert_eq!(v[0]["category"], "import");
    assert_eq!(v[0]["pattern_name"], "go_import_error");
    assert_eq!(v[0]["success_rate"], 0.67);
    assert_eq!(v[0]["construct_type"], "function");
    assert!(v[0]["bad_example"].as_str().unwrap().contains("import \"telemetry_utils\""));
    assert!(v[0]["good_example"].as_str().unwrap().contains("Tel.FuncExit"));
    assert_eq!(v[0]["learning_hashes"].as_array().unwrap().len(), 10);

    // --stats-only changes nothing; patterns list reads what consolidate stored.
    let list = ok(tf(dir.path(), &["patterns", "list", "--language", "go", "--json"]));
    let listed: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(listed, v);
}

#[test]
fn stats_only_writes_no_pattern_file_and_min_occurrences_filters() {
    let dir = tempfile::tempdir().unwrap();
    import_examples(dir.path());
    let out = ok(tf(dir.path(), &["consolidate", "--all", "--stats-only"]));
    assert!(out.contains("🔍 python") && out.contains("Total learnings: 11"), "{out}");
    assert!(!dir.path().join("go_patterns.json").exists());
    let out = ok(tf(dir.path(), &["consolidate", "--language", "go", "--min-occurrences", "4"]));
    assert!(out.contains("✅ Created 1 consolidated pattern\n"), "{out}");
    let out = ok(tf(dir.path(), &["consolidate", "--language", "go", "--min-occurrences", "1"]));
    assert!(out.contains("📋 go_type_error (1 occurrences, 0% success rate)"), "{out}");
}

#[test]
fn seed_files_round_trip_through_import_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let input = data("seed_go_learnings.json");
    ok(tf(dir.path(), &["learnings", "import", input.to_str().unwrap()]));
    let out = dir.path().join("export");
    ok(tf(dir.path(), &["learnings", "export", "--language", "go", "--out", out.to_str().unwrap()]));
    let exported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("go_learnings.json")).unwrap()).unwrap();
    let original: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
    assert_eq!(exported, original);
    // Importing the export again stores nothing new.
    let again = ok(tf(dir.path(), &["learnings", "import", out.join("go_learnings.json").to_str().unwrap()]));
    assert!(again.starts_with("Imported 0 learnings (3 already stored)"), "{again}");
}

#[test]
fn json_lines_from_stdin_with_full_fields_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let line = r#"{"language":"python","construct_type":"loop","attempt_number":1,"success":false,"generated_code":"for x in xs:\n\ttel.loop(x)","validation_errors":["Sorry: TabError: inconsistent use of tabs and spaces in indentation (a.py, line 2)"],"run_id":"r1","generator":"template","context":{"subject":"a.py:f:loop"}}"#;
    ok(tf_stdin(dir.path(), &["learnings", "import", "-"], &format!("{line}\n\n")));
    let listed = ok(tf(dir.path(), &["learnings", "list", "--json"]));
    let l: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    // The error pattern was classified on capture, and our fields survived.
    assert_eq!(l["error_pattern"], "python_tab_error");
    assert_eq!(l["context"]["subject"], "a.py:f:loop");
    let out = dir.path().join("full");
    ok(tf(dir.path(), &["learnings", "export", "--all", "--full", "--out", out.to_str().unwrap()]));
    let text = std::fs::read_to_string(out.join("python_learnings.json")).unwrap();
    assert!(text.contains("\"run_id\": \"r1\""), "{text}");
}

#[test]
fn a_malformed_import_changes_nothing_and_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    ok(tf(dir.path(), &["learnings", "import", data("seed_go_learnings.json").to_str().unwrap()]));
    let before = total(dir.path(), "go");
    let good = r#"{"language":"go","construct_type":"function","attempt_number":1,"success":false,"generated_code":"x","validation_errors":["undefined: Tel"]}"#;
    let bad =
        r#"{"language":"go","construct_type":"function","attempt_number":"one","success":false,"generated_code":"x"}"#;
    let file = dir.path().join("batch.jsonl");
    std::fs::write(&file, format!("{good}\n{}\n{bad}\n", good.replace("\"x\"", "\"y\""))).unwrap();
    // A good file first: all or nothing spans every file of the command.
    let other = dir.path().join("other.jsonl");
    std::fs::write(&other, format!("{}\n", good.replace("\"x\"", "\"z\""))).unwrap();
    let o = tf(dir.path(), &["learnings", "import", other.to_str().unwrap(), file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(65), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("batch.jsonl:3") && err.contains("attempt_number"), "{err}");
    assert_eq!(total(dir.path(), "go"), before);

    // Not JSON at all, and an array with a bad record.
    std::fs::write(&file, "[{\"language\": \"go\",]").unwrap();
    let o = tf(dir.path(), &["learnings", "import", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(65));
    assert!(stderr(&o).contains("batch.jsonl:1"), "{}", stderr(&o));
    // A file that does not exist.
    let o = tf(dir.path(), &["learnings", "import", "/nonexistent/x.json"]);
    assert_eq!(o.status.code(), Some(66), "{}", stderr(&o));
    assert_eq!(total(dir.path(), "go"), before);
}

#[test]
fn eight_processes_importing_at_once_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut children = Vec::new();
    for p in 0..8 {
        let file = dir.path().join(format!("p{p}.jsonl"));
        let mut text = String::new();
        for i in 0..500 {
            text.push_str(&format!(
                "{{\"language\":\"go\",\"construct_type\":\"function\",\"attempt_number\":1,\"success\":{},\"generated_code\":\"p{p} i{i}\",\"validation_errors\":[\"undefined: Tel\"],\"run_id\":\"p{p}\"}}\n",
                i % 3 == 0
            ));
        }
        std::fs::write(&file, text).unwrap();
        // A fresh store for all eight: they also race to create the schema.
        children.push(
            bin()
                .arg("--storage-dir")
                .arg(dir.path().join("store"))
                .args(["learnings", "import"])
                .arg(&file)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    for c in children {
        ok(c.wait_with_output().unwrap());
    }
    let store = dir.path().join("store");
    assert_eq!(total(&store, "go"), 4000);
    let listed = ok(tf(&store, &["learnings", "list", "--limit", "5000", "--json"]));
    assert_eq!(listed.lines().count(), 4000);
}

#[test]
fn classify_reads_diagnostics_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let input = "# example.com/x\n./main.go:3:8: package telemetry_utils is not in std (/usr/local/go/src/telemetry_utils)\n./main.go:9:2: undefined: Tel\n./main.go:10:2: something nobody has seen 42\n";
    let out = ok(tf_stdin(dir.path(), &["classify", "--language", "go"], input));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("go_import_error\timport\t"));
    assert!(lines[1].starts_with("go_undefined_tel\tundefined_symbol\t"));
    assert!(lines[2].starts_with("go_msg_something_nobody_has_seen_"), "{}", lines[2]);
    let json =
        ok(tf_stdin(dir.path(), &["classify", "--language", "js", "--json"], "ReferenceError: Tel is not defined\n"));
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["pattern"], "js_undefined_variable");
    assert_eq!(v["category"], "undefined_symbol");
}

#[test]
fn clear_needs_confirmation_and_then_removes_patterns_too() {
    let dir = tempfile::tempdir().unwrap();
    import_examples(dir.path());
    ok(tf(dir.path(), &["consolidate", "--all"]));
    let o = tf(dir.path(), &["learnings", "clear", "--language", "go"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("without --yes"));
    assert_eq!(total(dir.path(), "go"), 15);
    ok(tf(dir.path(), &["learnings", "clear", "--language", "go", "--yes"]));
    assert_eq!(total(dir.path(), "go"), 0);
    assert!(!dir.path().join("go_patterns.json").exists());
    assert_eq!(total(dir.path(), "python"), 11);
}

#[test]
fn a_corrupt_store_is_reported_in_one_line_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learnings.db");
    std::fs::write(&db, b"this is not a database, but somebody's notes\n".repeat(200)).unwrap();
    let before = std::fs::read(&db).unwrap();
    let o = tf(dir.path(), &["stats"]);
    assert_eq!(o.status.code(), Some(65), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("corrupt") && err.contains("move it aside"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn show_and_list_find_learnings() {
    let dir = tempfile::tempdir().unwrap();
    ok(tf(dir.path(), &["learnings", "import", data("seed_go_learnings.json").to_str().unwrap()]));
    let out = ok(tf(dir.path(), &["learnings", "show", "abc123"]));
    assert!(out.contains("hash:           abc123def456") && out.contains("go_import_error"), "{out}");
    let o = tf(dir.path(), &["learnings", "show", "ffffff"]);
    assert_eq!(o.status.code(), Some(2));
    let out = ok(tf(dir.path(), &["learnings", "list", "--failures"]));
    assert_eq!(out.lines().count(), 2, "{out}");
    // Newest first.
    assert!(out.lines().next().unwrap().starts_with("0123456789ab"), "{out}");
}

#[test]
fn storage_dir_comes_from_the_environment_when_not_given() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .env("TELEMETRY_LEARNINGS_DIR", dir.path())
        .args(["learnings", "import"])
        .arg(data("seed_go_learnings.json"))
        .output()
        .unwrap();
    ok(o);
    assert!(dir.path().join("learnings.db").exists());
}
