//! Many processes on one store: first opens of a store that does not exist yet, migrations of an
//! older store by several processes at once, and automatic consolidation by one process at a time.
//!
//! The processes are this same test binary, re-run with an environment variable that turns the
//! `writer_child` test into "open the store, capture N learnings, exit".

use std::path::Path;
use std::process::{Child, Command, Stdio};

use teleforge_learning::{
    AutoConsolidation, Learning, LearningConsolidator, LearningEngine, LearningQuery, DATABASE_FILE,
};

const CHILD_ENV: &str = "TELEFORGE_WRITER_CHILD_DIR";
/// Unix milliseconds at which every child opens the store, so that their first opens collide.
const START_ENV: &str = "TELEFORGE_WRITER_START_MS";
const PER_CHILD: usize = 25;

fn learning(tag: &str, i: usize) -> Learning {
    let mut l = Learning {
        language: "go".into(),
        construct_type: if i % 2 == 0 { "function" } else { "loop" }.into(),
        attempt_number: 1,
        success: i % 3 == 0,
        generated_code: format!("Tel.Enter({i}) // {tag}"),
        validation_errors: if i % 3 == 0 { vec![] } else { vec![format!("main.go:{i}:2: undefined: Tel")] },
        run_id: Some(tag.to_string()),
        ..Default::default()
    };
    l.context.insert("signature".into(), "kind=function".into());
    l.context.insert("form".into(), "go.func.full".into());
    l.context.insert("file".into(), format!("{tag}.go"));
    l
}

#[test]
fn writer_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else { return };
    let tag = format!("writer-{}", std::process::id());
    let start: u128 = std::env::var(START_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    while now_ms() < start {
        std::hint::spin_loop();
    }
    let engine = LearningEngine::open(&dir).unwrap_or_else(|e| panic!("open: {e}"));
    let batch: Vec<Learning> = (0..PER_CHILD).map(|i| learning(&tag, i)).collect();
    engine.capture_batch(batch).unwrap_or_else(|e| panic!("capture: {e}"));
}

fn now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
}

fn spawn_writer(dir: &Path, start_ms: u128) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "writer_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .env(START_ENV, start_ms.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Starts `n` writers at once and requires every one to succeed.
fn run_writers(dir: &Path, n: usize) {
    let start = now_ms() + 150;
    let children: Vec<Child> = (0..n).map(|_| spawn_writer(dir, start)).collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "a writer failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn many_processes_opening_a_store_that_does_not_exist_yet_all_succeed() {
    const STARTS: usize = 20;
    const PROCESSES: usize = 8;
    for start in 0..STARTS {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("fresh").join("store");
        run_writers(&dir, PROCESSES);
        let engine = LearningEngine::open(&dir).unwrap();
        let n = engine.learnings(&LearningQuery::default()).unwrap().len();
        assert_eq!(n, PROCESSES * PER_CHILD, "start {start}: learnings lost");
        assert_eq!(engine.statistics("go").unwrap().total, n as u64);
    }
}

/// Turns a current store back into a schema-1 store (the first release): the evidence tables,
/// their triggers and the meta table dropped, `user_version` 1.
fn downgrade_to_v1(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER learnings_first_attempt; DROP TRIGGER learnings_variant_outcome;
         DROP TABLE first_attempts; DROP TABLE applications; DROP TABLE variant_outcomes; DROP TABLE meta;
         DROP TABLE runs;
         PRAGMA user_version = 1;",
    )
    .unwrap();
}

#[test]
fn several_processes_migrating_an_older_store_at_once_all_succeed_and_the_evidence_is_backfilled() {
    for round in 0..4 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        {
            let engine = LearningEngine::open(dir).unwrap();
            let mut old: Vec<Learning> = (0..10).map(|i| learning("old-run", i)).collect();
            old[0].context.insert("applied".into(), r#"["go/go_undefined_tel"]"#.into());
            engine.capture_batch(old).unwrap();
        }
        downgrade_to_v1(&dir.join(DATABASE_FILE));
        run_writers(dir, 5);
        let engine = LearningEngine::open(dir).unwrap();
        assert_eq!(engine.learnings(&LearningQuery::default()).unwrap().len(), 10 + 5 * PER_CHILD, "round {round}");
        // Backfilled from the ten old learnings, kept by triggers for the new ones.
        let stats = engine.statistics("go").unwrap();
        assert_eq!(stats.first_attempts.with_learning.attempts, 10 + 5 * PER_CHILD as u64, "round {round}");
        assert_eq!(engine.lesson_evidence("go").unwrap()["go/go_undefined_tel"].applied, 1);
        let outcomes = engine.store().variant_outcomes("go", 1).unwrap();
        assert_eq!(outcomes.len(), 1);
        assert!(outcomes[0].spread, "failures from several runs and files");
    }
}

#[test]
fn automatic_consolidation_runs_in_one_process_at_a_time_and_only_when_due() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let engine = LearningEngine::open(dir).unwrap();
    engine.capture_batch((0..10).map(|i| learning("run-a", i)).collect()).unwrap();
    let c = LearningConsolidator::new(&engine);

    // Another process holds the language's consolidation lock: this one skips.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".consolidate-go.lock"))
        .unwrap();
    lock.lock().unwrap();
    let other = LearningEngine::open(dir).unwrap();
    assert_eq!(LearningConsolidator::new(&other).consolidate_if_due("go", 1, 2).unwrap(), AutoConsolidation::Busy);
    assert!(other.load_patterns("go").unwrap().is_empty(), "a skipped consolidation wrote nothing");
    drop(lock);

    assert!(matches!(
        c.consolidate_if_due("go", 1, 2).unwrap(),
        AutoConsolidation::Done { new_learnings: 10, patterns: 1 }
    ));
    // Nothing new since: nothing is done twice.
    assert_eq!(c.consolidate_if_due("go", 1, 2).unwrap(), AutoConsolidation::NotDue { new_learnings: 0 });
    // Fewer new learnings than asked for: not yet.
    engine.capture_batch((0..3).map(|i| learning("run-b", i)).collect()).unwrap();
    assert_eq!(c.consolidate_if_due("go", 5, 2).unwrap(), AutoConsolidation::NotDue { new_learnings: 3 });
    assert!(matches!(c.consolidate_if_due("go", 1, 2).unwrap(), AutoConsolidation::Done { new_learnings: 3, .. }));
    let p = &engine.load_patterns("go").unwrap()[0];
    assert_eq!(p.occurrence_count, 6 + 2, "counts cover every learning");
    assert_eq!(p.category, "undefined_symbol");
    // The file on disk matches the store.
    let file: Vec<teleforge_learning::Pattern> =
        serde_json::from_slice(&std::fs::read(engine.patterns_file("go")).unwrap()).unwrap();
    assert_eq!(file[0].occurrence_count, 8);
}

#[test]
fn incremental_and_full_consolidation_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = LearningEngine::open(tmp.path()).unwrap();
    let c = LearningConsolidator::new(&engine);
    let mut all = Vec::new();
    for run in 0..4 {
        let batch: Vec<Learning> = (0..12).map(|i| learning(&format!("run-{run}"), i)).collect();
        all.extend(batch.clone());
        engine.capture_batch(batch).unwrap();
        c.consolidate_if_due("go", 1, 2).unwrap();
    }
    let incremental = engine.load_patterns("go").unwrap();
    let full = c.consolidate_language("go", 2).unwrap();
    assert_eq!(incremental.len(), full.len());
    for (a, b) in incremental.iter().zip(&full) {
        assert_eq!(
            (&a.pattern_name, a.occurrence_count, a.success_rate, &a.construct_type, &a.status),
            (&b.pattern_name, b.occurrence_count, b.success_rate, &b.construct_type, &b.status)
        );
    }
}

#[test]
fn language_names_that_are_paths_are_refused_before_any_file_is_touched() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("a").join("b");
    let engine = LearningEngine::open(&store).unwrap();
    let victim = tmp.path().join("x_patterns.json");
    std::fs::write(&victim, "keep me").unwrap();
    assert!(engine.clear_language("../../x").is_err());
    assert!(LearningConsolidator::new(&engine).consolidate_language("../../x", 2).is_err());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}
