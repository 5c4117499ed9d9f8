//! A writer killed with SIGKILL in the middle of capturing: the store must pass
//! `PRAGMA integrity_check` and hold every learning whose capture had returned.
//!
//! The writer is this same test binary, re-run with an environment variable that turns the
//! `crash_child` test into a capture loop that prints `ACK <hash>` after each durable capture.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use teleforge_learning::{Learning, LearningEngine, LearningStore, SqliteStore, DATABASE_FILE};

const CHILD_ENV: &str = "TELEFORGE_CRASH_CHILD_DIR";

#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else { return };
    let engine = LearningEngine::open(dir).unwrap();
    let pid = std::process::id();
    for i in 0.. {
        let stored = engine
            .capture(Learning {
                language: "go".into(),
                construct_type: if i % 2 == 0 { "function" } else { "loop" }.into(),
                attempt_number: 1 + (i % 3),
                success: i % 4 == 0,
                generated_code: format!("// writer {pid}, capture {i}\n{}", "x := 1\n".repeat(50)),
                validation_errors: vec![format!("main.go:{i}:1: undefined: Tel")],
                run_id: Some(format!("crash-{pid}")),
                ..Default::default()
            })
            .unwrap();
        println!("ACK {}", stored.hash);
    }
}

#[test]
fn a_killed_writer_loses_no_acknowledged_learning() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged = Vec::new();
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let start = Instant::now();
        let mut this_round = 0;
        // Kill at a different point each round, while captures are in flight.
        let target = 40 + round * 37;
        while this_round < target && start.elapsed() < Duration::from_secs(60) {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(hash) = line.strip_prefix("ACK ") {
                acknowledged.push(hash.to_string());
                this_round += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL: no destructor, no rollback, no checkpoint.
                               // Anything printed before the kill took effect was acknowledged too.
        for line in lines.map_while(Result::ok) {
            if let Some(hash) = line.strip_prefix("ACK ") {
                acknowledged.push(hash.to_string());
            }
        }
        child.wait().unwrap();
        assert!(this_round >= 10, "round {round}: the writer acknowledged only {this_round} captures");
    }
    let store = SqliteStore::open(&dir.path().join(DATABASE_FILE)).unwrap();
    store.integrity_check().unwrap();
    let missing: Vec<&String> =
        acknowledged.iter().filter(|h| store.find(h).map(|f| f.is_empty()).unwrap_or(true)).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged learnings lost: {missing:?}", missing.len(), acknowledged.len());
    // The kept counts agree with the rows after three crashes.
    let engine = LearningEngine::open(dir.path()).unwrap();
    let stats = engine.statistics("go").unwrap();
    let rows = engine.learnings(&Default::default()).unwrap().len() as u64;
    assert_eq!(stats.total, rows);
    assert!(rows >= acknowledged.len() as u64);
}
