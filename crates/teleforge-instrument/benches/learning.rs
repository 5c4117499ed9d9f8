//! Learning-effect benchmark: does a run that learned from an earlier one do at least as well as
//! the earlier run, and as the same run with `--no-learning`?
//!
//! ```text
//! cargo bench -p teleforge-instrument --bench learning
//! TELEFORGE_BENCH_QUICK=1 cargo bench -p teleforge-instrument --bench learning
//! ```
//!
//! Per language, a large real tree T and an unrelated small tree U of the same language:
//!
//! | run | store | learning | tree |
//! | --- | --- | --- | --- |
//! | `run1` | fresh | on | T |
//! | `nl-T` | copy of the store after run1 | off (`--no-learning`) | T |
//! | `run2` | the store of run1 | on | T again |
//! | `run3` | the store of run1 and run2 | on | U |
//! | `nl-U` | copy of the store after run1 | off (`--no-learning`) | U |
//! | `fresh-U` | fresh | on | U |
//!
//! Every run calls the library (`teleforge_instrument::instrument_with_progress`) with validation
//! on, `--max-attempts 3`, output to a temporary copy, and the defaults of `[learning]` (automatic
//! consolidation after every run, `min_lesson_failures` 2, `explore_share` 0.1): the
//! `--no-learning` runs only turn `apply` off, as the CLI does. `nl-T` runs before `run2` so that
//! both find the go command's build cache in the same state (wall times of repeat runs profit from
//! it; compiler runs, the measure the targets use, do not depend on it).
//!
//! Targets (printed as PASS/FAIL lines): 0 constructs left out in every run; `run2` against `run1`
//! and `nl-T`, and `run3` against `fresh-U` and `nl-U`: at least as many constructs instrumented and
//! first-attempt successes, at most as many compiler runs and constructs left out. Left-out
//! constructs are listed with their reasons, grouped.
//!
//! Trees (full): the whole Python standard library of `python3` (its folders and `.py` files, without
//! `site-packages` and `__pycache__`; discovery skips test files as the CLI does), `golang.org/x/text@v0.21.0`
//! from the module proxy into a temporary GOMODCACHE (temporary GOCACHE too, warmed by one plain
//! `go build ./...` of the original), lodash 4.17.21 from `npm pack`; U: `examples/python/bookshop`,
//! `examples/golang/telemetry_demo`, `examples/javascript/shop` (copied). Quick
//! (`TELEFORGE_BENCH_QUICK=1`): the stdlib's `json` package, `golang.org/x/sync@v0.10.0`,
//! `mime@1.6.0`. `TELEFORGE_BENCH_LANGUAGES=python,go,javascript` picks languages.
//! Progress goes to stderr, tables to stdout.

use std::collections::BTreeMap;
mod trees;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use teleforge_instrument::{DiscoverOptions, InstrumentOptions, LearningOptions, OutputMode, Progress, Summary};
use teleforge_learning::LearningEngine;
use trees::{command_output, copy_dir, download_go_module, npm_pack, Cleanup};

const GO_MODULE_FULL: &str = "golang.org/x/text@v0.21.0";
const GO_MODULE_QUICK: &str = "golang.org/x/sync@v0.10.0";
const NPM_FULL: &str = "lodash@4.17.21";
const NPM_QUICK: &str = "mime@1.6.0";
const PY_QUICK_PACKAGES: &[&str] = &["json"];
const MAX_ATTEMPTS: u32 = 3;

struct Lang {
    name: &'static str,
    t_label: String,
    t: PathBuf,
    u_label: String,
    u: PathBuf,
}

struct Row {
    lang: &'static str,
    run: &'static str,
    tree: String,
    store: &'static str,
    learning: bool,
    /// Variant lessons that would act (min failures 2) in the store before the run.
    lessons_before: usize,
    /// Consolidated patterns of the language in the store before the run.
    patterns_before: usize,
    /// Constructs discovery found, before files the toolchain does not build were set aside.
    discovered: usize,
    s: Summary,
    wall: f64,
}

fn main() {
    let started = Instant::now();
    let quick = std::env::var("TELEFORGE_BENCH_QUICK").is_ok_and(|v| v == "1");
    let only: Option<Vec<String>> = std::env::var("TELEFORGE_BENCH_LANGUAGES")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect());
    let wanted = |l: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == l));
    let work = tempfile::Builder::new().prefix("teleforge-bench-learning-").tempdir().expect("creating a temp dir");
    let work = work.path().canonicalize().expect("temp dir").to_path_buf();
    let _cleanup = Cleanup(work.clone());
    eprintln!("[bench] work dir {}", work.display());
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");

    trees::go_caches_in(&work, command_output("go", &["env", "GOFLAGS"]).trim());
    std::env::set_var("GOTOOLCHAIN", "local");
    std::env::set_var("PYTHONDONTWRITEBYTECODE", "1");

    let py_version = command_output("python3", &["--version"]).trim().to_string();
    let go_version = command_output("go", &["version"]).trim().to_string();
    let node_version = command_output("node", &["--version"]).trim().to_string();
    println!(
        "teleforge-instrument learning benchmark ({}; {py_version}; {go_version}; node {node_version}; {} cores)",
        if quick { "QUICK" } else { "full" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    let mut langs = Vec::new();
    if wanted("python") {
        let t = work.join("trees/py-stdlib");
        let label = if quick {
            trees::copy_python_stdlib(&t, Some(PY_QUICK_PACKAGES));
            format!("python stdlib: {}", PY_QUICK_PACKAGES.join(","))
        } else {
            trees::copy_python_stdlib(&t, None);
            format!("python stdlib ({})", py_version.trim_start_matches("Python "))
        };
        let u = work.join("trees/bookshop");
        copy_dir(&examples.join("python/bookshop"), &u, &|_| true);
        langs.push(Lang { name: "python", t_label: label, t, u_label: "examples/python/bookshop".into(), u });
    }
    if wanted("go") {
        let module = if quick { GO_MODULE_QUICK } else { GO_MODULE_FULL };
        eprintln!("[bench] downloading {module} through the module proxy");
        let t = download_go_module(module, &work);
        let u = work.join("trees/telemetry_demo");
        copy_dir(&examples.join("golang/telemetry_demo"), &u, &|_| true);
        // One plain build of each original, untimed: the std library and dependencies are then in
        // the temporary build cache for every run alike.
        for dir in [&t, &u] {
            let w = Instant::now();
            let o =
                Command::new("go").args(["build", "-o", "/dev/null", "./..."]).current_dir(dir).output().expect("go");
            let err = String::from_utf8_lossy(&o.stderr);
            let first = err.lines().find(|l| !l.starts_with('#') && !l.starts_with("go: downloading")).unwrap_or("");
            eprintln!(
                "[bench] warm-up go build ./... of {}: {:.1} s ({})",
                dir.display(),
                w.elapsed().as_secs_f64(),
                if o.status.success() { "ok".to_string() } else { format!("fails: {first}") }
            );
        }
        langs.push(Lang {
            name: "go",
            t_label: module.to_string(),
            t,
            u_label: "examples/golang/telemetry_demo".into(),
            u,
        });
    }
    if wanted("javascript") {
        let package = if quick { NPM_QUICK } else { NPM_FULL };
        eprintln!("[bench] npm pack {package}");
        let t = npm_pack(package, &work);
        let u = work.join("trees/shop");
        copy_dir(&examples.join("javascript/shop"), &u, &|_| true);
        langs.push(Lang {
            name: "javascript",
            t_label: format!("npm {package}"),
            t,
            u_label: "examples/javascript/shop".into(),
            u,
        });
    }

    let mut rows: Vec<Row> = Vec::new();
    let mut lang_walls: Vec<(&'static str, f64)> = Vec::new();
    for lang in &langs {
        let lt = Instant::now();
        rows.extend(run_language(lang, &work));
        lang_walls.push((lang.name, lt.elapsed().as_secs_f64()));
    }

    print_table(&rows);
    let (pass, fail) = print_targets(&rows);
    print_left_out(&rows);
    println!();
    for (l, w) in &lang_walls {
        println!("{l}: all six runs {w:.1} s");
    }
    let total = started.elapsed().as_secs_f64();
    println!("targets: {pass} PASS, {fail} FAIL");
    println!("total runtime {total:.1} s (downloads, copies and warm-up included)");
    eprintln!("[bench] done in {total:.1} s");
}

/// The six runs of one language.
fn run_language(lang: &Lang, work: &Path) -> Vec<Row> {
    let stores = work.join(format!("stores-{}", lang.name));
    let learned = stores.join("learned");
    let mut rows = Vec::new();
    let on = LearningOptions::default();
    let off = LearningOptions { apply: false, ..LearningOptions::default() };

    rows.push(one_run(lang, "run1", &lang.t_label, &lang.t, &learned, "fresh", &on, work));
    // The store as it was after run 1, for each --no-learning run (they see the same history).
    let after1_t = stores.join("after-run1-T");
    let after1_u = stores.join("after-run1-U");
    copy_dir(&learned, &after1_t, &|_| true);
    copy_dir(&learned, &after1_u, &|_| true);
    rows.push(one_run(lang, "nl-T", &lang.t_label, &lang.t, &after1_t, "after run1 (copy)", &off, work));
    rows.push(one_run(lang, "run2", &lang.t_label, &lang.t, &learned, "after run1", &on, work));
    rows.push(one_run(lang, "run3", &lang.u_label, &lang.u, &learned, "after run2", &on, work));
    rows.push(one_run(lang, "nl-U", &lang.u_label, &lang.u, &after1_u, "after run1 (copy)", &off, work));
    rows.push(one_run(lang, "fresh-U", &lang.u_label, &lang.u, &stores.join("fresh-U"), "fresh", &on, work));
    rows
}

#[allow(clippy::too_many_arguments)]
fn one_run(
    lang: &Lang,
    run: &'static str,
    tree: &str,
    root: &Path,
    store: &Path,
    store_label: &'static str,
    learning: &LearningOptions,
    work: &Path,
) -> Row {
    let engine = LearningEngine::open(store).expect("opening the learning store");
    let lessons_before = engine.variant_lessons(lang.name, learning.min_failures).map(|v| v.len()).unwrap_or(0);
    let patterns_before = engine.load_patterns(lang.name).map(|v| v.len()).unwrap_or(0);
    let out = work.join(format!("out-{}-{run}", lang.name));
    let _ = std::fs::remove_dir_all(&out);
    let opts = InstrumentOptions {
        root: root.to_path_buf(),
        discover: DiscoverOptions::default(),
        validate: true,
        max_attempts: MAX_ATTEMPTS,
        output: OutputMode::Copy(out.clone()),
        validate_cmd: None,
        run_id: format!("bench-learning-{}-{run}", lang.name),
        learning: learning.clone(),
        check_timeout: teleforge_instrument::pipeline::DEFAULT_CHECK_TIMEOUT,
        allow_dirty: false,
    };
    eprintln!(
        "[bench] {} {run}: {tree} (store {store_label}, learning {}, {lessons_before} lessons acting, {patterns_before} patterns)",
        lang.name,
        if learning.apply { "on" } else { "off" }
    );
    let t = Instant::now();
    let mut discovered = 0;
    let s = teleforge_instrument::instrument_with_progress(Some(&engine), &opts, &mut |_| {}, &mut |p| match p {
        Progress::Discovered { files, constructs } => {
            discovered = constructs;
            eprintln!(
                "[bench]   discovered {files} files, {constructs} constructs ({:.1} s)",
                t.elapsed().as_secs_f64()
            )
        }
        Progress::Round { language, round, constructs } => eprintln!(
            "[bench]   {language} round {round}: {constructs} constructs ({:.1} s)",
            t.elapsed().as_secs_f64()
        ),
        _ => {}
    })
    .unwrap_or_else(|e| panic!("instrument {tree} ({run}): {e}"));
    let wall = t.elapsed().as_secs_f64();
    eprintln!(
        "[bench]   {run}: {} found, {} instrumented, {} left out, {} first-attempt, {} compiler runs, {wall:.1} s",
        s.constructs_found,
        s.constructs_instrumented,
        s.left_out.len(),
        s.first_attempt_successes,
        s.compiler_runs
    );
    drop(engine);
    let _ = std::fs::remove_dir_all(&out);
    Row {
        lang: lang.name,
        run,
        tree: tree.to_string(),
        store: store_label,
        learning: learning.apply,
        lessons_before,
        patterns_before,
        discovered,
        s,
        wall,
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<10} {:<7} {:<32} {:<17} {:>5} {:>7} {:>7} {:>6} {:>5} {:>7} {:>8} {:>5} {:>4} {:>4} {:>6} {:>5} {:>8} {:>8}",
        "language",
        "run",
        "tree",
        "store",
        "learn",
        "found",
        "instr.",
        "left",
        "first",
        "(rate)",
        "attempts",
        "runs",
        "base",
        "iso",
        "reord.",
        "expl.",
        "lessons",
        "wall s"
    );
    for r in rows {
        let s = &r.s;
        let rate = 100.0 * s.first_attempt_successes as f64 / s.constructs_found.max(1) as f64;
        println!(
            "{:<10} {:<7} {:<32} {:<17} {:>5} {:>7} {:>7} {:>6} {:>5} {:>6.2}% {:>8} {:>5} {:>4} {:>4} {:>6} {:>5} {:>8} {:>8.1}",
            r.lang,
            r.run,
            clip(&r.tree, 32),
            r.store,
            if r.learning { "on" } else { "off" },
            s.constructs_found,
            s.constructs_instrumented,
            s.left_out.len(),
            s.first_attempt_successes,
            rate,
            s.attempts,
            s.compiler_runs,
            s.baseline_runs,
            s.isolation_runs,
            s.constructs_reordered_by_learning,
            s.constructs_exploring,
            format!("{}/{}", r.lessons_before, r.patterns_before),
            r.wall
        );
    }
    println!(
        "found/instr./left = constructs found, instrumented, left out; first = constructs that validated on their first \
         attempt (rate of found); runs = compiler runs (baseline + rounds + isolation), base and iso = of \
         which baseline (the original code) and isolation runs; reord. = constructs whose forms lessons reordered; expl. = of those, kept in ladder order to test the \
         lesson; lessons = variant lessons acting / consolidated patterns in the store before the run; wall = the \
         whole instrument() call, automatic consolidation included."
    );
    println!("\nfiles (first run on each tree):");
    let mut seen = std::collections::BTreeSet::new();
    for r in rows {
        if !seen.insert((r.lang, r.tree.clone())) {
            continue;
        }
        let s = &r.s;
        println!(
            "  {:<10} {}: files seen {}, instrumented {}; constructs discovered {}, in files the toolchain builds {} \
             (found); files skipped {:?}",
            r.lang, r.tree, s.files_seen, s.files_instrumented, r.discovered, s.constructs_found, s.files_skipped
        );
    }
    println!("\nautomatic consolidation after each run (captured learnings → outcome):");
    for r in rows {
        let cons: Vec<String> = r.s.consolidation.iter().map(|(l, o)| format!("{l}: {}", outcome(o))).collect();
        let cap: Vec<String> = r.s.captured_by_language.iter().map(|(l, n)| format!("{l} {n}")).collect();
        println!(
            "  {:<10} {:<7} captured {:<22} {}",
            r.lang,
            r.run,
            cap.join(", "),
            if cons.is_empty() { "none".to_string() } else { cons.join("; ") }
        );
    }
}

fn outcome(o: &teleforge_learning::AutoConsolidation) -> String {
    serde_json::to_value(o).map(|v| v.to_string()).unwrap_or_else(|_| format!("{o:?}"))
}

/// PASS/FAIL lines; returns (passed, failed).
fn print_targets(rows: &[Row]) -> (usize, usize) {
    println!("\ntargets:");
    let (mut pass, mut fail) = (0, 0);
    let mut line = |ok: bool, text: String| {
        if ok {
            pass += 1;
        } else {
            fail += 1;
        }
        println!("{} {text}", if ok { "PASS" } else { "FAIL" });
    };
    let langs: Vec<&str> = rows.iter().fold(Vec::new(), |mut v, r| {
        if !v.contains(&r.lang) {
            v.push(r.lang);
        }
        v
    });
    for lang in langs {
        let get = |run: &str| rows.iter().find(|r| r.lang == lang && r.run == run).expect("run");
        for r in rows.iter().filter(|r| r.lang == lang) {
            line(
                r.s.left_out.is_empty(),
                format!("{lang} {}: 0 constructs left out on {} (left out: {})", r.run, r.tree, r.s.left_out.len()),
            );
        }
        for (a, b) in [("run2", "run1"), ("run2", "nl-T"), ("run3", "fresh-U"), ("run3", "nl-U")] {
            let (a, b) = (get(a), get(b));
            let checks: [(&str, usize, usize, bool); 4] = [
                ("instrumented", a.s.constructs_instrumented, b.s.constructs_instrumented, true),
                ("first-attempt successes", a.s.first_attempt_successes, b.s.first_attempt_successes, true),
                ("compiler runs", a.s.compiler_runs, b.s.compiler_runs, false),
                ("left out", a.s.left_out.len(), b.s.left_out.len(), false),
            ];
            for (what, x, y, more_is_better) in checks {
                let ok = if more_is_better { x >= y } else { x <= y };
                let op = if more_is_better { "≥" } else { "≤" };
                line(ok, format!("{lang} {} {op} {} on {what}: {x} vs {y}", a.run, b.run));
            }
        }
    }
    (pass, fail)
}

/// Every left-out construct's reason, grouped by its template.
fn print_left_out(rows: &[Row]) {
    let any = rows.iter().any(|r| !r.s.left_out.is_empty());
    println!("\nconstructs left out{}", if any { ", by reason:" } else { ": none" });
    for r in rows.iter().filter(|r| !r.s.left_out.is_empty()) {
        let mut groups: BTreeMap<String, Vec<&teleforge_instrument::LeftOut>> = BTreeMap::new();
        for l in &r.s.left_out {
            groups.entry(reason_template(&l.reason)).or_default().push(l);
        }
        let mut groups: Vec<_> = groups.into_iter().collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
        println!("  {} {} ({}): {} left out", r.lang, r.run, r.tree, r.s.left_out.len());
        for (reason, ls) in groups {
            println!("    {:>5}  {}", ls.len(), clip(&reason, 160));
            for l in ls.iter().take(3) {
                println!(
                    "           {}:{} {} {}: {}",
                    l.file,
                    l.line,
                    l.construct_type,
                    l.function,
                    clip(&l.reason.replace('\n', " | "), 220)
                );
            }
            if ls.len() > 3 {
                let files: std::collections::BTreeSet<&str> = ls.iter().map(|l| l.file.as_str()).collect();
                println!(
                    "           … {} more; files: {}",
                    ls.len() - 3,
                    files.into_iter().collect::<Vec<_>>().join(", ")
                );
            }
        }
    }
}

/// A reason without its location and with numbers and quoted text masked, to group like ones.
fn reason_template(reason: &str) -> String {
    let first = reason.lines().next().unwrap_or("");
    let msg = match first
        .find(".go:")
        .or_else(|| first.find(".py:"))
        .map(|i| (i, 4))
        .or_else(|| first.find(".js:").map(|i| (i, 4)))
    {
        Some((i, n)) => first[i + n..].splitn(3, ':').last().unwrap_or(first).trim().to_string(),
        None => first.to_string(),
    };
    let mut out = String::new();
    let mut in_quote = None;
    for c in msg.chars() {
        match in_quote {
            Some(q) if c == q => {
                in_quote = None;
                out.push(c);
            }
            Some(_) => {}
            None if c == '"' || c == '\'' || c == '`' => {
                in_quote = Some(c);
                out.push(c);
                out.push('…');
            }
            None if c.is_ascii_digit() => {
                if !out.ends_with('N') {
                    out.push('N');
                }
            }
            None => out.push(c),
        }
    }
    out
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n.saturating_sub(1)).collect::<String>())
    }
}

// ---------------------------------------------------------------------------------------------
// Trees
