//! Dashboard start-up and every API call on a large store, through the real HTTP server.
//!
//! ```sh
//! cargo bench -p teleforge-dashboard --bench dashboard                 # 1,000,000 learnings
//! TELEFORGE_BENCH_LEARNINGS=100000 cargo bench -p teleforge-dashboard --bench dashboard
//! ```
//!
//! The store (3 languages, 2,000 runs with summaries, consolidated patterns, lessons applied in
//! later runs) is built once and kept in `target/dashboard-bench-<n>/`. Each figure is the median
//! of several requests after one warm-up. Baselines measured in the same run, on the same store:
//! opening the store (`LearningEngine::open`), one page of learnings straight from the store (the
//! ratio column divides by it), the store's own statistics query (what `teleforge
//! stats` does, target ≤ 50 ms) and a static asset through the same server (HTTP alone). The
//! issue's targets: start-up < 1 s, every API call ≤ 200 ms.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use teleforge_dashboard::{Dashboard, Options};
use teleforge_learning::{Learning, LearningConsolidator, LearningEngine, RunRecord};

const LANGUAGES: &[&str] = &["go", "python", "javascript"];
const RUNS: usize = 2000;
const PATTERNS: usize = 12;

fn main() {
    let n: usize = std::env::var("TELEFORGE_BENCH_LEARNINGS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join(format!("dashboard-bench-{n}"));
    if !dir.join("complete").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t = Instant::now();
        fill(&dir, n);
        std::fs::write(dir.join("complete"), "").unwrap();
        eprintln!("[bench] built a {n}-learning store in {:.1} s: {}", t.elapsed().as_secs_f64(), dir.display());
    }

    println!("store: {n} learnings, {RUNS} runs, {} languages; medians of 7 requests after a warm-up", LANGUAGES.len());
    // Baselines.
    let open = median((0..7).map(|_| time(|| drop(LearningEngine::open(&dir).unwrap()))).collect());
    let engine = LearningEngine::open(&dir).unwrap();
    let stats = median((0..7).map(|_| time(|| drop(engine.statistics("go").unwrap()))).collect());
    let page_query =
        teleforge_learning::store::LearningQuery { language: Some("go".into()), limit: Some(50), ..Default::default() };
    let page = median((0..7).map(|_| time(|| drop(engine.store().learnings(&page_query).unwrap()))).collect());
    drop(engine);

    // Start-up: open the store, bind, and answer the page and its first API call.
    let mut startups = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let engine = LearningEngine::open(&dir).unwrap();
        let d =
            Dashboard::bind(engine, Options { addr: "127.0.0.1:0".parse().unwrap(), ..Options::default() }).unwrap();
        let url = d.url();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let th = std::thread::spawn(move || d.serve(&flag));
        get(&url);
        get(&format!("{url}api/languages"));
        startups.push(t.elapsed());
        stop.store(true, Ordering::Relaxed);
        th.join().unwrap();
    }
    let startup = median(startups);

    let engine = LearningEngine::open(&dir).unwrap();
    // The oldest learning the browser can list (the 5,000th newest of a language): the worst case
    // for a link's hints.
    let deep = engine
        .store()
        .learnings(&teleforge_learning::store::LearningQuery {
            language: Some("go".into()),
            limit: Some(5000),
            ..Default::default()
        })
        .unwrap()
        .pop()
        .unwrap();
    let hash = deep.hash.clone();
    let hints = format!(
        "language=go&construct_type={}&pattern={}&success={}",
        deep.construct_type,
        deep.error_pattern.clone().unwrap_or_default(),
        deep.success
    );
    let top_pattern = engine.store().patterns("go").unwrap()[0].pattern_name.clone();
    let d = Dashboard::bind(engine, Options { addr: "127.0.0.1:0".parse().unwrap(), ..Options::default() }).unwrap();
    let url = d.url();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let th = std::thread::spawn(move || d.serve(&flag));
    let asset = measure(&format!("{url}app.js"));

    println!();
    println!("| what | median | vs one page query | target |");
    println!("| --- | ---: | ---: | --- |");
    let row = |name: &str, d: Duration, target: &str| {
        println!("| {name} | {} | {:.1}× | {target} |", ms(d), d.as_secs_f64() / page.as_secs_f64());
    };
    row("baseline: LearningEngine::open", open, "");
    row("baseline: store.learnings(go, limit 50), one page query", page, "");
    row("baseline: engine.statistics(\"go\")", stats, "≤ 50 ms");
    row("baseline: GET /app.js (HTTP alone)", asset, "");
    row("start-up: open + bind + GET / + GET /api/languages", startup, "< 1 s");
    let run_id = format!("run-{:05}", RUNS / 2);
    let calls = [
        "api/config".to_string(),
        "api/languages".to_string(),
        "api/overview?language=go".to_string(),
        "api/patterns?language=go".to_string(),
        format!("api/patterns/go/{top_pattern}"),
        "api/learnings?language=go".to_string(),
        "api/learnings".to_string(),
        "api/learnings?language=go&page=99".to_string(),
        format!("api/learnings?language=go&pattern={top_pattern}"),
        format!("api/learnings?language=go&pattern={top_pattern}&success=true"),
        "api/learnings?language=go&construct_type=loop&success=false".to_string(),
        format!("api/learnings?run={run_id}"),
        format!("api/learnings/{hash}?{hints}"),
        format!("api/learnings/{hash}"),
        "api/runs".to_string(),
    ];
    for c in &calls {
        row(&format!("GET /{c}"), measure(&format!("{url}{c}")), "≤ 200 ms");
    }
    stop.store(true, Ordering::Relaxed);
    th.join().unwrap();
}

fn get(url: &str) -> usize {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut res = agent.get(url).call().expect("request");
    assert_eq!(res.status().as_u16(), 200, "{url}");
    res.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap().len()
}

fn measure(url: &str) -> Duration {
    get(url);
    median(
        (0..7)
            .map(|_| {
                time(|| {
                    get(url);
                })
            })
            .collect(),
    )
}

fn time(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A deterministic store shaped like many `teleforge instrument` runs.
fn fill(dir: &std::path::Path, n: usize) {
    let engine = LearningEngine::open(dir).unwrap();
    let per_run = n.div_ceil(RUNS);
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut rand = move |k: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % k
    };
    let mut made = 0;
    let mut batch = Vec::with_capacity(20_000);
    for r in 0..RUNS {
        let run_id = format!("run-{r:05}");
        let language = LANGUAGES[r % LANGUAGES.len()];
        let day = r * 90 / RUNS;
        let learning = r % 10 != 0;
        let mut first_ok = 0u64;
        let mut constructs = 0u64;
        let mut i = 0;
        while i < per_run && made < n {
            let c = constructs;
            constructs += 1;
            let construct_type = ["function", "loop", "assignment"][(c % 3) as usize];
            // Later runs fail less at first.
            let fails = rand(1000) < 400 - (r as u64 * 250 / RUNS as u64);
            let pattern = format!("{language}_pattern_{:02}", rand(PATTERNS as u64).min(rand(PATTERNS as u64)));
            let subject = format!("pkg{}/file{}.go:F{c}", c % 17, c % 5);
            let mut context = BTreeMap::new();
            context.insert("subject".to_string(), subject.clone());
            context.insert("signature".to_string(), format!("{construct_type}:{}", c % 7));
            context.insert("file".to_string(), format!("pkg{}/file{}", c % 17, c % 5));
            context.insert("form".to_string(), "form1".to_string());
            if learning {
                context.insert(
                    "applied".to_string(),
                    format!("[\"{language}/{language}_pattern_00\",\"{language}/{language}_pattern_01\"]"),
                );
            } else {
                context.insert("learning".to_string(), "off".to_string());
            }
            let k = i;
            let ts = move |attempt: u32| {
                format!(
                    "2026-{:02}-{:02}T{:02}:{:02}:{:02}",
                    8 + day / 30,
                    1 + day % 30,
                    r % 24,
                    (k / 59) % 60,
                    (k % 59) as u32 + attempt
                )
            };
            let first = Learning {
                language: language.into(),
                construct_type: construct_type.into(),
                attempt_number: 1,
                success: !fails,
                generated_code: format!("defer Tel.FuncExit(Tel.FuncEntry(\"{subject}\")) // {r} {c}"),
                validation_errors: if fails { vec![format!("{subject}:3:8: error of kind {pattern}")] } else { vec![] },
                error_pattern: fails.then(|| pattern.clone()),
                timestamp: ts(0),
                run_id: Some(run_id.clone()),
                generator: Some("template".into()),
                context: context.clone(),
                ..Default::default()
            };
            batch.push(first);
            i += 1;
            made += 1;
            if fails && made < n {
                let mut ctx = context;
                ctx.insert("form".into(), "form2".into());
                batch.push(Learning {
                    language: language.into(),
                    construct_type: construct_type.into(),
                    attempt_number: 2,
                    success: true,
                    generated_code: format!("Tel.Enter(\"{subject}\") // {r} {c}"),
                    error_pattern: Some(pattern),
                    fix_applied: Some("used the statement form".into()),
                    timestamp: ts(1),
                    run_id: Some(run_id.clone()),
                    generator: Some("template".into()),
                    context: ctx,
                    ..Default::default()
                });
                i += 1;
                made += 1;
            } else if !fails {
                first_ok += 1;
            }
            if batch.len() >= 10_000 {
                engine.capture_batch(std::mem::take(&mut batch)).unwrap();
            }
        }
        let counts: BTreeMap<String, u64> = [
            ("constructs_found", constructs),
            ("first_attempt_successes", first_ok),
            ("left_out", rand(3)),
            ("attempts", i as u64),
            ("compiler_runs", 3),
            ("files_seen", 85),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        engine
            .store()
            .record_run(&RunRecord {
                run_id,
                started: format!("2026-{:02}-{:02}T{:02}:00:00", 8 + day / 30, 1 + day % 30, r % 24),
                finished: format!("2026-{:02}-{:02}T{:02}:30:00", 8 + day / 30, 1 + day % 30, r % 24),
                generator: "template".into(),
                learning,
                languages: vec![language.into()],
                counts,
            })
            .unwrap();
    }
    if !batch.is_empty() {
        engine.capture_batch(batch).unwrap();
    }
    let consolidator = LearningConsolidator::new(&engine);
    for l in LANGUAGES {
        consolidator.consolidate_language(l, 2).unwrap();
    }
}
