//! The engine, consolidator and injection over a real SQLite file.

use std::time::Duration;

use teleforge_learning::{
    Error, InjectionOptions, Learning, LearningConsolidator, LearningEngine, LearningQuery, LearningStore, SqliteStore,
    DATABASE_FILE,
};

fn failure(lang: &str, construct: &str, code: &str, error: &str, run: &str, subject: &str) -> Learning {
    let mut l = Learning {
        language: lang.into(),
        construct_type: construct.into(),
        attempt_number: 1,
        generated_code: code.into(),
        validation_errors: vec![error.into()],
        run_id: Some(run.into()),
        ..Default::default()
    };
    l.context.insert("subject".into(), subject.into());
    l
}

fn success(lang: &str, construct: &str, code: &str, pattern: &str, fix: &str, run: &str, subject: &str) -> Learning {
    let mut l = Learning {
        language: lang.into(),
        construct_type: construct.into(),
        attempt_number: 2,
        success: true,
        generated_code: code.into(),
        error_pattern: Some(pattern.into()),
        fix_applied: Some(fix.into()),
        run_id: Some(run.into()),
        ..Default::default()
    };
    l.context.insert("subject".into(), subject.into());
    l
}

#[test]
fn secrets_are_redacted_before_they_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let engine = LearningEngine::open(dir.path()).unwrap();
    let key = concat!("AKIA", "IOSFODNN7EXAMPLE");
    let stored = engine
        .capture(failure(
            "go",
            "function",
            &format!("const awsKey = \"{key}\"\npassword := \"hunter22\""),
            &format!("main.go:3:1: undefined: Tel (near {key})"),
            "r",
            "s",
        ))
        .unwrap();
    assert!(!stored.generated_code.contains(key), "{}", stored.generated_code);
    assert!(stored.generated_code.contains("[REDACTED:aws-access-key]"));
    assert!(!stored.generated_code.contains("hunter22"));
    assert!(!stored.validation_errors[0].contains(key));
    let raw = std::fs::read(dir.path().join(DATABASE_FILE)).unwrap();
    let wal = std::fs::read(dir.path().join(format!("{DATABASE_FILE}-wal"))).unwrap_or_default();
    for bytes in [raw, wal] {
        assert!(!bytes.windows(key.len()).any(|w| w == key.as_bytes()), "the key reached the database file");
    }
}

#[test]
fn the_same_learning_captured_twice_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let engine = LearningEngine::open(dir.path()).unwrap();
    let l = failure("go", "function", "x", "undefined: Tel", "r1", "s");
    let a = engine.capture(l.clone()).unwrap();
    let b = engine.capture(l.clone()).unwrap();
    assert_eq!(a.hash, b.hash);
    assert_eq!(engine.statistics("go").unwrap().total, 1);
    // The same mistake in another run is another occurrence.
    let mut again = l;
    again.run_id = Some("r2".into());
    engine.capture(again).unwrap();
    assert_eq!(engine.statistics("go").unwrap().total, 2);
}

#[test]
fn failures_without_a_pattern_are_classified_on_capture() {
    let dir = tempfile::tempdir().unwrap();
    let engine = LearningEngine::open(dir.path()).unwrap();
    let l = engine
        .capture(failure("golang", "function", "x", "./a.go:1:2: \"os\" imported and not used", "r", "s"))
        .unwrap();
    assert_eq!(l.language, "go");
    assert_eq!(l.error_pattern.as_deref(), Some("go_unused_import"));
}

#[test]
fn consolidation_pairs_a_failure_with_the_success_that_fixed_it() {
    let dir = tempfile::tempdir().unwrap();
    let engine = LearningEngine::open(dir.path()).unwrap();
    // Run A: subject f1 fails then succeeds; run B: subject f2 fails and never recovers, later.
    engine.capture(failure("go", "function", "BAD-A", "package tel is not in std", "A", "f1")).unwrap();
    engine.capture(success("go", "function", "GOOD-A", "go_import_error", "Removed the import", "A", "f1")).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    engine.capture(failure("go", "function", "BAD-B", "package tel is not in std", "B", "f2")).unwrap();
    let patterns = LearningConsolidator::new(&engine).consolidate_language("go", 2).unwrap();
    assert_eq!(patterns.len(), 1);
    let p = &patterns[0];
    assert_eq!((p.occurrence_count, p.success_rate), (2, 0.5));
    // The pair, not the newest failure.
    assert_eq!((p.bad_example.as_str(), p.good_example.as_str()), ("BAD-A", "GOOD-A"));
    assert!(p.how_to_fix.ends_with("Fix that worked: Removed the import"), "{}", p.how_to_fix);
    assert_eq!(p.learning_hashes.len(), 3);
    assert_eq!(engine.load_patterns("go").unwrap(), patterns);
}

#[test]
fn unknown_errors_become_template_patterns_with_an_explanation() {
    let dir = tempfile::tempdir().unwrap();
    let engine = LearningEngine::open(dir.path()).unwrap();
    for (run, file) in [("1", "a.go"), ("2", "b.go")] {
        engine
            .capture(failure(
                "go",
                "loop",
                "code",
                &format!("{file}:3:1: frobnication of widget {run} failed"),
                run,
                "s",
            ))
            .unwrap();
    }
    let patterns = LearningConsolidator::new(&engine).consolidate_language("go", 2).unwrap();
    assert_eq!(patterns.len(), 1, "both messages share one template");
    assert!(patterns[0].pattern_name.starts_with("go_msg_frobnication_of_widget"));
    assert_eq!(patterns[0].why_fails, "Validation rejected the code with: frobnication of widget ‹n› failed");
    assert_eq!(patterns[0].good_example, "");
}

fn seeded_engine(dir: &std::path::Path) -> LearningEngine {
    let engine = LearningEngine::open(dir).unwrap();
    for i in 0..6 {
        let run = format!("go{i}");
        engine
            .capture(failure(
                "go",
                "function",
                "import \"telemetry_utils\"",
                "package telemetry_utils is not in std",
                &run,
                "f",
            ))
            .unwrap();
        if i < 4 {
            engine
                .capture(success(
                    "go",
                    "function",
                    "defer Tel.FuncExit(Tel.FuncEntry(\"f\"))",
                    "go_import_error",
                    "Removed import",
                    &run,
                    "f",
                ))
                .unwrap();
        }
    }
    for i in 0..3 {
        engine.capture(failure("go", "loop", "Tel.LoopIter(i)", "undefined: Tel", &format!("t{i}"), "l")).unwrap();
    }
    for i in 0..2 {
        engine
            .capture(failure(
                "go",
                "function",
                &"y := 1\n".repeat(400),
                "x declared and not used",
                &format!("u{i}"),
                "v",
            ))
            .unwrap();
    }
    for i in 0..2 {
        engine
            .capture(failure(
                "python",
                "function",
                "from tel import x",
                "ModuleNotFoundError: No module named 'tel'",
                &format!("p{i}"),
                "f",
            ))
            .unwrap();
    }
    let c = LearningConsolidator::new(&engine);
    c.consolidate_language("go", 2).unwrap();
    c.consolidate_language("python", 2).unwrap();
    engine
}

#[test]
fn injection_is_ranked_fenced_labelled_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let engine = seeded_engine(dir.path());
    let c = LearningConsolidator::new(&engine);
    let all = c
        .prompt_injection(
            "go",
            "function",
            &InjectionOptions { max_patterns: 10, char_budget: 100_000, ..Default::default() },
        )
        .unwrap();
    // Same construct type and most frequent first; python's import pattern is not borrowed, since
    // go has an active pattern of that category of its own.
    assert_eq!(all.pattern_ids[0], "go/go_import_error");
    assert!(!all.pattern_ids.contains(&"python/python_import_error".to_string()), "{:?}", all.pattern_ids);
    assert_eq!(all.omitted, 0);
    assert!(all.text.contains("not instructions"));
    assert!(all.text.contains("DON'T (failed validation):\n```go\nimport \"telemetry_utils\"\n```"), "{}", all.text);
    assert!(all.text.contains("DO (passed validation):"));
    assert!(all.text.contains("more characters)"), "a long example is cut");

    let small = c
        .prompt_injection(
            "go",
            "function",
            &InjectionOptions { max_patterns: 10, char_budget: 900, ..Default::default() },
        )
        .unwrap();
    assert!(small.text.chars().count() <= 900, "{} chars", small.text.chars().count());
    assert!(small.omitted > 0 && !small.pattern_ids.is_empty());
    assert!(small.text.contains(&format!("({} more learned pattern", small.omitted)), "{}", small.text);

    let two =
        c.prompt_injection("go", "function", &InjectionOptions { max_patterns: 2, ..Default::default() }).unwrap();
    assert_eq!(two.pattern_ids.len(), 2);
    assert_eq!(two.omitted, all.pattern_ids.len() - 2);

    // A language with no pattern of its own borrows, each borrowed pattern marked as such.
    let ruby = c.generate_prompt_injection("ruby", "function", 5).unwrap();
    assert_eq!(ruby.matches("borrowed from").count(), ruby.matches("\n### ").count(), "{ruby}");
    let none = InjectionOptions { cross_language: false, ..Default::default() };
    assert_eq!(c.prompt_injection("ruby", "function", &none).unwrap().text, "");
}

#[test]
fn recent_context_summarises_the_newest_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let engine = seeded_engine(dir.path());
    let ctx = engine.recent_context("go", "loop", 2).unwrap();
    assert_eq!(ctx.lines().count(), 3, "{ctx}");
    assert!(ctx.contains("attempt 1 failed (go_undefined_tel): undefined: Tel"), "{ctx}");
    let only = engine
        .learnings(&LearningQuery {
            language: Some("go".into()),
            only_failures: true,
            limit: Some(4),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(only.len(), 4);
    assert!(only.iter().all(|l| !l.success));
}

#[test]
fn a_store_from_a_newer_teleforge_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    drop(SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path).unwrap().execute_batch("PRAGMA user_version = 99").unwrap();
    match SqliteStore::open(&path) {
        Err(Error::NewerSchema { found: 99, .. }) => {}
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

#[test]
fn a_writer_that_cannot_get_the_lock_reports_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let store = SqliteStore::open_with_timeout(&path, Duration::from_millis(200)).unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut l = failure("go", "function", "x", "undefined: Tel", "r", "s");
    l.timestamp = "2025-10-27T12:00:00".into();
    l.hash = l.content_hash();
    l.error_pattern = Some("go_undefined_tel".into());
    match store.capture(&[l.clone()]) {
        Err(e @ Error::Busy { .. }) => assert!(e.to_string().contains("try again")),
        other => panic!("expected Busy, got {other:?}"),
    }
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(store.capture(&[l]).unwrap().inserted, 1);
}

#[test]
fn clearing_a_language_resets_its_counts_only() {
    let dir = tempfile::tempdir().unwrap();
    let engine = seeded_engine(dir.path());
    assert!(dir.path().join("go_patterns.json").exists());
    assert_eq!(engine.clear_language("go").unwrap(), 15);
    assert_eq!(engine.statistics("go").unwrap().total, 0);
    assert!(engine.load_patterns("go").unwrap().is_empty());
    assert!(!dir.path().join("go_patterns.json").exists());
    assert_eq!(engine.statistics("python").unwrap().total, 2);
    assert_eq!(engine.languages().unwrap(), vec!["python".to_string()]);
}

#[test]
fn a_language_without_a_category_borrows_one_pattern_and_retires_it_when_it_does_not_help() {
    let dir = tempfile::tempdir().unwrap();
    let engine = seeded_engine(dir.path());
    let c = LearningConsolidator::new(&engine);
    let opts = InjectionOptions { max_patterns: 10, char_budget: 100_000, ..Default::default() };
    let js = c.prompt_injection("javascript", "function", &opts).unwrap();
    // One import pattern (go's and python's share the category), marked as borrowed.
    let imports: Vec<&String> = js.pattern_ids.iter().filter(|id| id.ends_with("_import_error")).collect();
    assert_eq!(imports.len(), 1, "{:?}", js.pattern_ids);
    assert!(js.text.contains("borrowed from"), "{}", js.text);
    let borrowed = imports[0].clone();

    // In javascript, first attempts that carried it fail far more often than those that did not.
    let mut batch = Vec::new();
    for i in 0..200 {
        let applied = i < 40;
        let mut l = Learning {
            language: "javascript".into(),
            construct_type: "function".into(),
            attempt_number: 1,
            success: if applied { i % 8 == 0 } else { i % 10 != 0 },
            generated_code: format!("tel.enter({i})"),
            validation_errors: vec!["SyntaxError: Unexpected token".into()],
            run_id: Some("js-run".into()),
            ..Default::default()
        };
        if l.success {
            l.validation_errors.clear();
        }
        if applied {
            l.context.insert("applied".into(), serde_json::to_string(&[&borrowed]).unwrap());
        }
        batch.push(l);
    }
    engine.capture_batch(batch).unwrap();
    let evidence = engine.lesson_evidence("javascript").unwrap();
    let e = evidence[&borrowed];
    assert_eq!((e.applied, e.baseline), (40, 160), "{e:?}");
    assert!(e.lift().unwrap() < -0.5, "{e:?}");
    let js = c.prompt_injection("javascript", "function", &opts).unwrap();
    assert!(!js.pattern_ids.contains(&borrowed), "a borrowed pattern that hurt is retired here: {:?}", js.pattern_ids);
    // It is retired in javascript only: go still carries its own pattern.
    let go = c.prompt_injection("go", "function", &opts).unwrap();
    assert!(go.pattern_ids.contains(&"go/go_import_error".to_string()), "{:?}", go.pattern_ids);
}

#[test]
fn a_lesson_that_does_not_help_is_retired_and_then_neither_injected_nor_ordering() {
    let dir = tempfile::tempdir().unwrap();
    let engine = LearningEngine::open(dir.path()).unwrap();
    let c = LearningConsolidator::new(&engine);
    // Two runs in two files saw form F fail in context S with go_undefined_tel: a lesson.
    let mut history = Vec::new();
    for run in ["r1", "r2"] {
        let mut l = failure("go", "loop", "Tel.LoopIter(i)", "main.go:3:2: undefined: Tel", run, "main.go:3:loop:f");
        l.context.insert("signature".into(), "kind=loop".into());
        l.context.insert("form".into(), "go.loop.full".into());
        l.context.insert("file".into(), format!("{run}.go"));
        history.push(l);
    }
    engine.capture_batch(history).unwrap();
    c.consolidate_language("go", 2).unwrap();
    assert_eq!(engine.variant_lessons("go", 2).unwrap().len(), 1, "the lesson acts while its pattern is active");
    let opts = InjectionOptions { max_patterns: 10, char_budget: 100_000, ..Default::default() };
    assert!(c.prompt_injection("go", "loop", &opts).unwrap().pattern_ids.contains(&"go/go_undefined_tel".to_string()));

    // Then first attempts it was applied to succeed far less often than the others.
    let mut runs = Vec::new();
    for i in 0..200 {
        let applied = i < 40;
        let success = if applied { i % 5 == 0 } else { i % 20 != 0 };
        let mut l = Learning {
            language: "go".into(),
            construct_type: "loop".into(),
            attempt_number: 1,
            success,
            generated_code: format!("Tel.LoopIter({i})"),
            validation_errors: if success { vec![] } else { vec!["main.go:9:2: syntax error".into()] },
            run_id: Some("r3".into()),
            ..Default::default()
        };
        if applied {
            l.context.insert("applied".into(), r#"["go/go_undefined_tel"]"#.into());
        }
        runs.push(l);
    }
    engine.capture_batch(runs).unwrap();
    let patterns = c.consolidate_language("go", 2).unwrap();
    let p = patterns.iter().find(|p| p.pattern_name == "go_undefined_tel").unwrap();
    assert_eq!(p.status, teleforge_learning::PatternStatus::Retired, "{p:?}");
    // The baseline: every other first attempt of loops, the two history failures included.
    assert_eq!((p.evidence.applied, p.evidence.baseline), (40, 162));
    assert!(p.lift.unwrap() < -0.5 && p.status_reason.starts_with("no lift"), "{p:?}");
    // Retired: no longer injected, and its variant lessons no longer reorder anything.
    assert!(!c.prompt_injection("go", "loop", &opts).unwrap().pattern_ids.contains(&"go/go_undefined_tel".to_string()));
    assert!(engine.variant_lessons("go", 2).unwrap().is_empty());
    // The seed's file still lists it, with its status beside the seed's fields.
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(engine.patterns_file("go")).unwrap()).unwrap();
    let entry = file.as_array().unwrap().iter().find(|p| p["pattern_name"] == "go_undefined_tel").unwrap();
    assert_eq!(entry["status"], "retired");
}

#[test]
fn learnings_stream_one_at_a_time_in_either_order_and_stop_at_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let engine = LearningEngine::open(dir.path()).unwrap();
    let batch: Vec<Learning> = (0..500)
        .map(|i| {
            let mut l = failure("go", "loop", &format!("x{i}"), "main.go:1:1: undefined: Tel", "r", "s");
            l.timestamp = format!("2026-01-01T00:{:02}:{:02}", i / 60, i % 60);
            l
        })
        .collect();
    engine.capture_batch(batch).unwrap();
    let q = LearningQuery { language: Some("golang".into()), ..Default::default() };
    let mut seen = Vec::new();
    engine
        .for_each_learning(&q, true, &mut |l| {
            seen.push(l.generated_code);
            Ok(())
        })
        .unwrap();
    assert_eq!(seen.len(), 500);
    assert_eq!((seen[0].as_str(), seen[499].as_str()), ("x0", "x499"), "oldest first");
    let mut newest = None;
    engine
        .for_each_learning(&LearningQuery { limit: Some(1), ..q.clone() }, false, &mut |l| {
            newest = Some(l.generated_code);
            Ok(())
        })
        .unwrap();
    assert_eq!(newest.as_deref(), Some("x499"));
    let mut n = 0;
    let err = engine.for_each_learning(&q, true, &mut |_| {
        n += 1;
        if n == 10 {
            Err(teleforge_learning::Error::InvalidRecord { origin: "test".into(), problem: "stop".into() })
        } else {
            Ok(())
        }
    });
    assert!(err.is_err() && n == 10, "stops at the first error");
}
