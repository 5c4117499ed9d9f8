//! Learning never makes a run worse: a store that learned from a misleading history instruments
//! as much as a fresh store and as `--no-learning`; lessons reorder, they never remove; a lesson
//! contradicted by this run stops acting; consolidation runs by itself; two runs at once on one
//! store lose nothing.

mod support;

use std::path::{Path, PathBuf};

use support::{have, have_python_module, text, tf};

fn bookshop() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/python/bookshop")
}

fn instrument(store: &Path, src: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["instrument", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let o = tf(store, &args);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn learnings(store: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["learnings", "list", "--language", "python", "--limit", "100000", "--json"];
    args.extend_from_slice(extra);
    let o = tf(store, &args);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A history that says the form every construct of bookshop validated with fails in its
/// context: two runs on two machines, each failure a confident, classified lesson.
fn misleading_history(successes: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for run in ["misleading-1", "misleading-2"] {
        for l in successes {
            let ctx = &l["context"];
            let record = serde_json::json!({
                "language": "python",
                "construct_type": l["construct_type"],
                "attempt_number": 1,
                "success": false,
                "generated_code": l["generated_code"],
                "validation_errors": ["main.py:1:1: SyntaxError: invalid syntax"],
                "error_pattern": "python_syntax_error",
                "run_id": run,
                "context": {
                    "form": ctx["form"],
                    "signature": ctx["signature"],
                    "file": ctx["file"],
                    "subject": ctx["subject"],
                },
            });
            out.push_str(&record.to_string());
            out.push('\n');
        }
    }
    out
}

#[test]
fn a_misleading_history_never_instruments_less_than_a_fresh_store_or_no_learning() {
    if !have("python3") || !have_python_module("pyflakes") {
        eprintln!("skipped: python3 with pyflakes is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Half the constructs a lesson would reorder explore instead (try the demoted form first),
    // so that both reordering and contradiction happen in one run of 28 constructs.
    let src = tmp.path().join("bookshop");
    support::copy(&bookshop(), &src);
    std::fs::write(src.join("teleforge.toml"), "[learning]\nexplore_share = 0.5\n").unwrap();
    let fresh_store = tmp.path().join("fresh");
    let fresh = instrument(&fresh_store, &src, &tmp.path().join("out-fresh"), &[]);
    let found = fresh["constructs_found"].as_u64().unwrap();
    assert_eq!(fresh["constructs_instrumented"], found, "{fresh}");
    assert!(fresh["consolidation"]["python"].is_object(), "consolidation runs by itself: {fresh}");

    // The history claims that every form that just worked fails in its context.
    let successes = learnings(&fresh_store, &["--successes"]);
    assert_eq!(successes.len() as u64, found);
    let history = tmp.path().join("misleading.jsonl");
    std::fs::write(&history, misleading_history(&successes)).unwrap();
    let misled_store = |name: &str| {
        let store = tmp.path().join(name);
        assert!(tf(&store, &["learnings", "import", history.to_str().unwrap()]).status.success());
        assert!(tf(&store, &["consolidate", "--all"]).status.success());
        store
    };

    // The A side: the same history, learning switched off.
    let off_store = misled_store("misled-off");
    let off = instrument(&off_store, &src, &tmp.path().join("out-off"), &["--no-learning"]);
    assert_eq!(off["constructs_instrumented"], found, "{off}");
    assert_eq!(off["constructs_reordered_by_learning"], 0, "{off}");
    assert_eq!(off["learning_applied"], false);

    let store = misled_store("misled");
    let misled = instrument(&store, &src, &tmp.path().join("out-misled"), &[]);
    assert_eq!(misled["constructs_instrumented"], found, "a misleading history cost constructs: {misled}");
    assert!(misled["left_out"].as_array().unwrap().is_empty(), "{misled}");
    assert!(misled["constructs_reordered_by_learning"].as_u64().unwrap() > 0, "the lessons acted: {misled}");

    // Every attempt was captured, with what steered it.
    assert!(
        learnings(&off_store, &[]).iter().any(|l| l["context"]["learning"] == "off"),
        "--no-learning runs are marked"
    );
    let all = learnings(&store, &[]);
    assert!(all
        .iter()
        .any(|l| l["context"]["applied"].as_str().is_some_and(|a| a.contains("python/python_syntax_error"))));
    // What this run saw contradicts the lessons: the forms worked. A third run is not steered by
    // them any more where they were contradicted, and instruments everything first time again.
    let again = instrument(&store, &src, &tmp.path().join("out-again"), &[]);
    assert_eq!(again["constructs_instrumented"], found, "{again}");
    assert!(
        again["constructs_reordered_by_learning"].as_u64().unwrap()
            < misled["constructs_reordered_by_learning"].as_u64().unwrap(),
        "contradicted lessons stop acting: {again} vs {misled}"
    );
    assert_eq!(again["first_attempt_successes"], found, "{again}");

    // stats shows first attempts with and without learning.
    let st = tf(&off_store, &["stats", "--language", "python", "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(stats[0]["first_attempts"]["without_learning"]["attempts"], found, "{stats}");
    let st = tf(&store, &["stats", "--language", "python", "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert!(stats[0]["first_attempts"]["with_learning"]["attempts"].as_u64().unwrap() >= 2 * found, "{stats}");
}

#[test]
fn two_runs_at_once_on_one_store_lose_nothing_and_consolidate_without_error() {
    if !have("python3") || !have_python_module("pyflakes") {
        eprintln!("skipped: python3 with pyflakes is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let bin = env!("CARGO_BIN_EXE_teleforge");
    let children: Vec<_> = (0..2)
        .map(|i| {
            std::process::Command::new(bin)
                .arg("--storage-dir")
                .arg(&store)
                .args(["instrument", bookshop().to_str().unwrap(), "--json", "--out"])
                .arg(tmp.path().join(format!("out-{i}")))
                .output()
        })
        .collect();
    let mut captured = 0;
    for c in children {
        let o = c.unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        captured += s["learnings_captured"].as_u64().unwrap();
        let outcome = &s["consolidation"]["python"]["outcome"];
        assert!(["done", "busy", "not_due"].contains(&outcome.as_str().unwrap()), "{s}");
    }
    assert_eq!(learnings(&store, &[]).len() as u64, captured, "no learning lost");
    // Each run left its summary in the store.
    let engine = teleforge_learning::LearningEngine::open(&store).unwrap();
    let runs = engine.store().runs(None).unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r.counts["constructs_instrumented"] == r.counts["constructs_found"] && r.learning));
    assert!(runs.iter().all(|r| r.generator == "template" && r.languages == ["python"]));
    let patterns = store.join("python_patterns.json");
    if patterns.exists() {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&patterns).unwrap()).unwrap();
        assert!(v.is_array());
    }
}

#[test]
fn verify_marks_a_pattern_stale_when_its_failing_attempt_now_validates() {
    if !have("python3") || !have_python_module("pyflakes") {
        eprintln!("skipped: python3 with pyflakes is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("bookshop");
    support::copy(&bookshop(), &src);
    std::fs::write(src.join("teleforge.toml"), "[learning]\nexplore_share = 0.0\n").unwrap();
    let fresh = tmp.path().join("fresh");
    instrument(&fresh, &src, &tmp.path().join("out-fresh"), &[]);
    // A history that says the forms that work here fail: its pattern describes nothing true.
    let history = tmp.path().join("history.jsonl");
    std::fs::write(&history, misleading_history(&learnings(&fresh, &["--successes"]))).unwrap();
    let store = tmp.path().join("store");
    assert!(tf(&store, &["learnings", "import", history.to_str().unwrap()]).status.success());
    assert!(tf(&store, &["consolidate", "--all"]).status.success());

    let o = tf(&store, &["patterns", "verify", src.to_str().unwrap(), "--language", "python", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let verdicts: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let v = verdicts.as_array().unwrap().iter().find(|v| v["pattern"] == "python_syntax_error").unwrap();
    assert_eq!(v["outcome"], "stale", "{verdicts}");
    assert!(v["detail"].as_str().unwrap().contains("now validates"), "{v}");
    let listed = tf(&store, &["patterns", "list", "--language", "python", "--json"]);
    let patterns: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(patterns[0]["status"], "stale", "{patterns}");

    // A stale pattern orders nothing, and consolidation keeps it stale.
    let run = instrument(&store, &src, &tmp.path().join("out"), &[]);
    assert_eq!(run["constructs_reordered_by_learning"], 0, "{run}");
    let listed = tf(&store, &["patterns", "list", "--language", "python", "--json"]);
    let patterns: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(patterns[0]["status"], "stale", "still stale after the run's consolidation: {patterns}");
}
