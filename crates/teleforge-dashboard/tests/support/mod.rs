//! A learning store shaped like the ones `teleforge instrument` fills (runs with summaries,
//! failures classified and recovered, lessons applied in later runs, consolidated patterns), plus
//! learnings that carry XSS payloads, and a dashboard served from it on 127.0.0.1.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use teleforge_dashboard::{Dashboard, Options};
use teleforge_learning::{Learning, LearningConsolidator, LearningEngine, RunRecord};

pub const SCRIPT_PAYLOAD: &str = "<script>window.__xss = 'script'</script>";
pub const IMG_PAYLOAD: &str = "\"><img src=x onerror=\"window.__xss='img'\">";
pub const JS_LINK_PAYLOAD: &str = "javascript:window.__xss='link'";
/// A pattern name and a subject that are payloads too.
pub const XSS_PATTERN: &str = "go_xss\"><img src=x onerror=window.__xss=1>";

pub const GO_RUNS: usize = 4;

fn learning(
    language: &str,
    run: &str,
    day: usize,
    subject: &str,
    attempt: u32,
    success: bool,
    pattern: Option<&str>,
) -> Learning {
    let mut context = BTreeMap::new();
    context.insert("subject".to_string(), subject.to_string());
    context.insert("form".to_string(), format!("form{attempt}"));
    context.insert("signature".to_string(), "fn:plain".to_string());
    context.insert("file".to_string(), subject.split(':').next().unwrap_or("").to_string());
    Learning {
        language: language.into(),
        construct_type: if subject.contains("loop") { "loop".into() } else { "function".into() },
        attempt_number: attempt,
        success,
        generated_code: if success {
            "defer Tel.FuncExit(Tel.FuncEntry(\"main.Run\")) // ok".into()
        } else {
            "import \"telemetry_utils\"\nfunc f() { x := 1 }".into()
        },
        validation_errors: if success {
            vec![]
        } else {
            vec![format!("{subject}:3:8: package telemetry_utils is not in std")]
        },
        error_pattern: pattern.map(str::to_string),
        fix_applied: success.then(|| "Removed import statement, used Tel directly".to_string()),
        timestamp: format!("2026-11-{:02}T10:{:02}:00", 20 + day, attempt),
        run_id: Some(run.into()),
        generator: Some("template".into()),
        context,
        ..Default::default()
    }
}

/// Fills `dir` with the fixture store and returns the opened engine.
pub fn fixture_store(dir: &Path) -> LearningEngine {
    let engine = LearningEngine::open(dir).expect("open store");
    for r in 0..GO_RUNS {
        let run = format!("run-{}", r + 1);
        let mut batch = Vec::new();
        let mut first_ok = 0;
        // Six constructs a run; fewer first-attempt failures as the runs go on.
        for c in 0..6 {
            let subject = format!("main.go:{}{}", if c % 3 == 2 { "loop" } else { "F" }, c);
            let fails_first = c < 4 - r;
            let mut first = learning(
                "go",
                &run,
                r,
                &subject,
                1,
                !fails_first,
                if fails_first { Some("go_import_error") } else { None },
            );
            if r >= 2 {
                first.context.insert("applied".into(), "[\"go/go_import_error\"]".into());
            }
            batch.push(first);
            if fails_first {
                batch.push(learning("go", &run, r, &subject, 2, true, Some("go_import_error")));
            } else {
                first_ok += 1;
            }
        }
        for l in batch {
            engine.capture(l).expect("capture");
        }
        let counts: BTreeMap<String, u64> = [
            ("files_seen", 1),
            ("constructs_found", 6),
            ("constructs_instrumented", 6 - (r == 0) as u64),
            ("left_out", (r == 0) as u64),
            ("attempts", 6 + (4 - r as u64).min(6)),
            ("first_attempt_successes", first_ok),
            ("compiler_runs", 2),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        engine
            .store()
            .record_run(&RunRecord {
                run_id: run.clone(),
                started: format!("2026-11-{:02}T10:00:00", 20 + r),
                finished: format!("2026-11-{:02}T10:05:00", 20 + r),
                generator: "template".into(),
                learning: true,
                languages: vec!["go".into()],
                counts,
            })
            .expect("record run");
    }
    // XSS payloads everywhere a store holds text: code, diagnostics, subject, run id, pattern.
    for (i, run) in ["xss-run-a", JS_LINK_PAYLOAD].iter().enumerate() {
        let mut l = learning("go", run, 5, IMG_PAYLOAD, 1, false, Some(XSS_PATTERN));
        l.generated_code = format!("{SCRIPT_PAYLOAD}\n{IMG_PAYLOAD}\n<a href=\"{JS_LINK_PAYLOAD}\">x</a> {i}");
        l.validation_errors = vec![format!("{IMG_PAYLOAD} {SCRIPT_PAYLOAD}")];
        l.fix_applied = Some(JS_LINK_PAYLOAD.into());
        engine.capture(l).expect("capture xss");
        let mut ok = learning("go", run, 5, IMG_PAYLOAD, 2, true, Some(XSS_PATTERN));
        ok.generated_code = format!("{SCRIPT_PAYLOAD} fixed {i}");
        engine.capture(ok).expect("capture xss");
    }
    for r in 0..2 {
        let run = format!("py-run-{}", r + 1);
        engine
            .capture(learning("python", &run, r, "app.py:main", 1, false, Some("python_import_error")))
            .expect("capture");
        engine
            .capture(learning("python", &run, r, "app.py:main", 2, true, Some("python_import_error")))
            .expect("capture");
    }
    let consolidator = LearningConsolidator::new(&engine);
    for language in ["go", "python"] {
        consolidator.consolidate_language(language, 2).expect("consolidate");
    }
    engine
}

/// A dashboard answering on 127.0.0.1 (a free port) in a thread; stopped on drop.
pub struct Served {
    pub url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

pub fn serve(engine: LearningEngine, default_language: Option<&str>) -> Served {
    let options = Options {
        addr: "127.0.0.1:0".parse().unwrap(),
        default_language: default_language.map(str::to_string),
        ..Options::default()
    };
    let dashboard = Dashboard::bind(engine, options).expect("bind");
    let url = dashboard.url();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || dashboard.serve(&flag));
    Served { url, stop, thread: Some(thread) }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
