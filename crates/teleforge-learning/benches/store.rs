//! Store benchmark: our SQLite-backed `LearningEngine` against the seed's layout (one JSON array
//! per language, rewritten whole on every capture), at 10k, 100k and 1M learnings.
//!
//! ```text
//! cargo bench -p teleforge-learning --bench store
//! TELEFORGE_BENCH_SIZES=10000,100000 cargo bench -p teleforge-learning --bench store
//! ```
//!
//! The baseline is a Rust emulation of the seed's Python `LearningEngine` (same files, same work
//! per call: read the whole file, parse it, act, rewrite it), so it is *faster* than the real Python
//! seed would be: the speedups printed here understate ours. Progress goes to stderr, the tables to
//! stdout. A missed target is reported, never a panic.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use teleforge_learning::classify::rule;
use teleforge_learning::{
    format_timestamp, now_timestamp, ConstructStats, Learning, LearningConsolidator, LearningEngine, Pattern,
    Statistics, DATABASE_FILE, MAX_LEARNING_HASHES, SUBJECT_KEY,
};

const LANGUAGE: &str = "go";
const MIN_OCCURRENCES: u64 = 2;
const FILL_CHUNK: usize = 10_000;
const BATCH: usize = 1_000;
/// The product brief's targets, at 1M learnings.
const TARGET_STATISTICS: Duration = Duration::from_millis(50);
const TARGET_CONSOLIDATION: Duration = Duration::from_secs(2);
/// Baseline writes are followed by fsync, as ours are (the seed itself never fsyncs).
const BASELINE_FSYNC: bool = true;
/// The seed writes its files with `json.dump(..., indent=2)`: pretty-printed.
const BASELINE_PRETTY: bool = true;

fn main() {
    let sizes = sizes();
    let started = Instant::now();
    println!("teleforge-learning store benchmark: ours (SQLite, WAL, synchronous=FULL) vs the seed's JSON layout");
    println!(
        "baseline = Rust emulation of the seed's Python LearningEngine: one {LANGUAGE}_learnings.json array, \
         every capture reads + parses + appends + rewrites the whole file ({}, {}); statistics and \
         consolidation load + parse the whole file.",
        if BASELINE_PRETTY { "pretty-printed, indent 2" } else { "compact" },
        if BASELINE_FSYNC { "fsync after every write: YES" } else { "fsync: NO" },
    );
    println!("times are medians over n samples (n in brackets); speedup = baseline / ours; page cache warm.");
    for &n in &sizes {
        run_size(n);
    }
    eprintln!("[bench] done in {}", fmt_d(started.elapsed()));
}

fn sizes() -> Vec<usize> {
    let default = vec![10_000, 100_000, 1_000_000];
    let Ok(v) = std::env::var("TELEFORGE_BENCH_SIZES") else { return default };
    let parsed: Vec<usize> =
        v.split(',').filter_map(|s| s.trim().replace('_', "").parse().ok()).filter(|&n| n > 0).collect();
    if parsed.is_empty() {
        eprintln!("[bench] TELEFORGE_BENCH_SIZES={v:?} has no sizes; using the defaults");
        default
    } else {
        parsed
    }
}

/// Sample counts per size: the baseline rewrites or parses the whole file per sample, so fewer
/// samples as it grows.
struct Samples {
    ours_stats: usize,
    ours_consolidate: usize,
    ours_capture: usize,
    ours_batches: usize,
    base_stats: usize,
    base_consolidate: usize,
    base_capture: usize,
}

fn samples_for(n: usize) -> Samples {
    let (bs, bc, bcap) = match n {
        0..=20_000 => (11, 11, 11),
        20_001..=200_000 => (5, 5, 5),
        _ => (5, 5, 3),
    };
    Samples {
        ours_stats: 101,
        ours_consolidate: 11,
        ours_capture: 31,
        ours_batches: 5,
        base_stats: bs,
        base_consolidate: bc,
        base_capture: bcap,
    }
}

fn run_size(n: usize) {
    let s = samples_for(n);
    let t0 = Instant::now();
    eprintln!("[bench] N={n}: generating the data set");
    let data = generate(n, 0x5eed_0001);
    let t_gen = t0.elapsed();
    let successes = data.iter().filter(|l| l.success).count();
    eprintln!("[bench] N={n}: generated in {} ({} successes, {:.1}%)", fmt_d(t_gen), successes, pct(successes, n));

    // ---- populate (not measured) ----
    let dir_ours = tempfile::tempdir().expect("tempdir");
    let dir_base = tempfile::tempdir().expect("tempdir");
    let engine = LearningEngine::open(dir_ours.path()).expect("open engine");
    let t = Instant::now();
    for (i, chunk) in data.chunks(FILL_CHUNK).enumerate() {
        let (_, report) = engine.capture_batch(chunk.to_vec()).expect("fill ours");
        if report.duplicates > 0 {
            eprintln!("[bench] note: {} duplicate hashes skipped in chunk {i}", report.duplicates);
        }
        if i % 10 == 9 {
            eprintln!("[bench] N={n}: ours filled {}/{n} ({})", (i + 1) * FILL_CHUNK, fmt_d(t.elapsed()));
        }
    }
    let fill_ours = t.elapsed();
    eprintln!("[bench] N={n}: ours populated in {}", fmt_d(fill_ours));
    let base = Baseline::new(dir_base.path());
    let t = Instant::now();
    base.write_all(&data);
    let fill_base = t.elapsed();
    eprintln!("[bench] N={n}: baseline populated in {}", fmt_d(fill_base));
    drop(data);
    let db_size = file_size(&dir_ours.path().join(DATABASE_FILE));
    let wal_size = file_size(&dir_ours.path().join(format!("{DATABASE_FILE}-wal")));
    let json_size = file_size(&base.learnings_file());

    // ---- statistics ----
    eprintln!("[bench] N={n}: statistics, ours x{}", s.ours_stats);
    let mut ours_stats_result = None;
    let ours_stats = measure(s.ours_stats, || {
        ours_stats_result = Some(engine.statistics(LANGUAGE).expect("statistics"));
    });
    eprintln!("[bench] N={n}: statistics, baseline x{}", s.base_stats);
    let mut base_stats_result = None;
    let base_stats = measure(s.base_stats, || base_stats_result = Some(base.statistics()));
    eprintln!("[bench] N={n}: baseline statistics samples {}", list(&base_stats));

    // ---- consolidation ----
    eprintln!("[bench] N={n}: consolidation, ours x{}", s.ours_consolidate);
    let consolidator = LearningConsolidator::new(&engine);
    let mut ours_patterns = Vec::new();
    let ours_cons = measure(s.ours_consolidate, || {
        ours_patterns = consolidator.consolidate_language(LANGUAGE, MIN_OCCURRENCES).expect("consolidate");
    });
    eprintln!("[bench] N={n}: consolidation, baseline x{}", s.base_consolidate);
    let mut base_patterns = Vec::new();
    let base_cons = measure(s.base_consolidate, || base_patterns = base.consolidate(MIN_OCCURRENCES));
    eprintln!("[bench] N={n}: baseline consolidation samples {}", list(&base_cons));

    // ---- capture ----
    let extra = generate(s.ours_capture + s.ours_batches * BATCH + s.base_capture + 8, 0xca97_0002);
    let mut extra = extra.into_iter().map(|mut l| {
        // Fresh attempts as a caller hands them in: the engine stamps time and hash.
        l.timestamp.clear();
        l.hash.clear();
        l
    });
    eprintln!("[bench] N={n}: capture, ours x{} one at a time", s.ours_capture);
    let mut ours_one = Vec::new();
    for _ in 0..s.ours_capture {
        let l = extra.next().expect("enough extra learnings");
        let t = Instant::now();
        engine.capture(l).expect("capture");
        ours_one.push(t.elapsed());
    }
    eprintln!("[bench] N={n}: capture, ours {} batches of {BATCH}", s.ours_batches);
    let mut ours_batch = Vec::new();
    for _ in 0..s.ours_batches {
        let batch: Vec<Learning> = extra.by_ref().take(BATCH).collect();
        let t = Instant::now();
        engine.capture_batch(batch).expect("capture_batch");
        ours_batch.push(t.elapsed() / BATCH as u32);
    }
    eprintln!("[bench] N={n}: capture, baseline x{} (whole-file rewrite each)", s.base_capture);
    let mut base_one = Vec::new();
    for _ in 0..s.base_capture {
        let l = extra.next().expect("enough extra learnings");
        let t = Instant::now();
        base.capture(l);
        base_one.push(t.elapsed());
    }
    eprintln!("[bench] N={n}: baseline capture samples {}", list(&base_one));

    // ---- cross-checks: both stores hold the same data, so they must agree ----
    let stats_agree = ours_stats_result == base_stats_result;
    let key = |ps: &[Pattern]| -> Vec<(String, u64, String, String)> {
        ps.iter()
            .map(|p| {
                (p.pattern_name.clone(), p.occurrence_count, p.construct_type.clone(), format!("{:.2}", p.success_rate))
            })
            .collect()
    };
    let patterns_agree = key(&ours_patterns) == key(&base_patterns);

    // ---- report ----
    let is_target_size = n >= 1_000_000;
    let verdict = |d: Duration, target: Duration, target_s: &str| {
        let v = if d <= target { "PASS" } else { "MISS" };
        if is_target_size {
            format!("<= {target_s} @1M: {v}")
        } else {
            format!("<= {target_s} @1M ({v} here)")
        }
    };
    println!();
    println!("== N = {} learnings (language \"{LANGUAGE}\") ==", group(n));
    println!("{:<34} {:>16} {:>20} {:>10}   target (ours)", "metric", "ours", "baseline (seed)", "speedup");
    row("capture one (durable txn / rewrite)", &ours_one, Some(&base_one), "");
    println!(
        "{:<34} {:>16} {:>20} {:>10}   * vs the seed's one capture",
        format!("capture batched ({BATCH}), per learning"),
        format!("{} [{}]", fmt_d(median(&ours_batch)), ours_batch.len()),
        "n/a (no batch API)",
        format!("{:.0}x*", ratio(median(&base_one), median(&ours_batch))),
    );
    row(
        "statistics(\"go\")",
        &ours_stats,
        Some(&base_stats),
        &verdict(median(&ours_stats), TARGET_STATISTICS, "50 ms"),
    );
    row(
        "consolidate_language(\"go\", 2)",
        &ours_cons,
        Some(&base_cons),
        &verdict(median(&ours_cons), TARGET_CONSOLIDATION, "2 s"),
    );
    println!("{:<34} {:>16} {:>20}", "populate (not measured)", fmt_d(fill_ours), fmt_d(fill_base));
    println!(
        "{:<34} {:>16} {:>20}   (ours: {DATABASE_FILE} + {} WAL)",
        "file size after populate",
        fmt_bytes(db_size + wal_size),
        fmt_bytes(json_size),
        fmt_bytes(wal_size)
    );
    println!(
        "cross-check: statistics agree: {}; patterns agree ({} patterns: names, occurrences, construct, rate): {}",
        yes(stats_agree),
        ours_patterns.len(),
        yes(patterns_agree)
    );
    if let Some(st) = &ours_stats_result {
        println!(
            "data: {} failures / {} successes ({:.1}% success), {} construct types, {} error patterns",
            st.failures,
            st.successes,
            st.success_rate * 100.0,
            st.by_construct_type.len(),
            st.error_patterns.len()
        );
    }
    if is_target_size {
        println!(
            "note: baseline at this size uses {}/{}/{} samples (capture/statistics/consolidation): each is a \
             whole-file parse of {}",
            s.base_capture,
            s.base_stats,
            s.base_consolidate,
            fmt_bytes(json_size)
        );
    }
    eprintln!("[bench] N={n}: done in {}", fmt_d(t0.elapsed()));
    drop(engine);
}

fn row(name: &str, ours: &[Duration], base: Option<&[Duration]>, target: &str) {
    let o = median(ours);
    let (b, r) = match base {
        Some(b) => {
            let mb = median(b);
            (format!("{} [{}]", fmt_d(mb), b.len()), format!("{:.0}x", ratio(mb, o)))
        }
        None => ("-".to_string(), String::new()),
    };
    println!("{:<34} {:>16} {:>20} {:>10}   {}", name, format!("{} [{}]", fmt_d(o), ours.len()), b, r, target);
}

// ---------------------------------------------------------------------------------------------
// The baseline: the seed's storage, faithfully emulated.
// ---------------------------------------------------------------------------------------------

struct Baseline {
    dir: PathBuf,
}

impl Baseline {
    fn new(dir: &Path) -> Self {
        Baseline { dir: dir.to_path_buf() }
    }

    fn learnings_file(&self) -> PathBuf {
        self.dir.join(format!("{LANGUAGE}_learnings.json"))
    }

    fn patterns_file(&self) -> PathBuf {
        self.dir.join(format!("{LANGUAGE}_patterns.json"))
    }

    /// `_load_learnings`: read and parse the whole file.
    fn load(&self) -> Vec<Learning> {
        let bytes = std::fs::read(self.learnings_file()).expect("read learnings file");
        serde_json::from_slice(&bytes).expect("parse learnings file")
    }

    /// `_save_learnings`: truncate and rewrite the whole file (then fsync, for a fair comparison).
    fn save<T: serde::Serialize>(path: &Path, value: &T) {
        let f = File::create(path).expect("create");
        let mut w = BufWriter::with_capacity(1 << 20, f);
        if BASELINE_PRETTY {
            serde_json::to_writer_pretty(&mut w, value).expect("serialise");
        } else {
            serde_json::to_writer(&mut w, value).expect("serialise");
        }
        let f = w.into_inner().map_err(|e| e.into_error()).expect("flush");
        if BASELINE_FSYNC {
            f.sync_all().expect("fsync");
        }
    }

    /// Populating: write the file once (not measured as a capture).
    fn write_all(&self, data: &[Learning]) {
        Self::save(&self.learnings_file(), &data);
    }

    /// `capture_learning`: stamp, hash, load all, append, save all.
    fn capture(&self, mut l: Learning) {
        l.timestamp = now_timestamp();
        l.hash = l.content_hash();
        let mut all = self.load();
        all.push(l);
        Self::save(&self.learnings_file(), &all);
    }

    /// `get_statistics`: load all and count.
    fn statistics(&self) -> Statistics {
        let all = self.load();
        let mut s = Statistics { language: LANGUAGE.to_string(), ..Default::default() };
        let mut patterns: BTreeMap<String, u64> = BTreeMap::new();
        for l in &all {
            s.total += 1;
            let c: &mut ConstructStats = s.by_construct_type.entry(l.construct_type.clone()).or_default();
            c.total += 1;
            if l.success {
                s.successes += 1;
                c.successes += 1;
            } else {
                s.failures += 1;
                c.failures += 1;
                if let Some(p) = &l.error_pattern {
                    *patterns.entry(p.clone()).or_default() += 1;
                }
            }
        }
        s.success_rate = if s.total == 0 { 0.0 } else { s.successes as f64 / s.total as f64 };
        s.error_patterns = patterns.into_iter().collect();
        s.error_patterns.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        s
    }

    /// `consolidate_language`: load all, group failures by error pattern, count, compute the
    /// success rate, pick the newest bad/good examples, explain, write `go_patterns.json`.
    fn consolidate(&self, min_occurrences: u64) -> Vec<Pattern> {
        let all = self.load();
        #[derive(Default)]
        struct Group<'a> {
            failures: Vec<&'a Learning>,
            successes: Vec<&'a Learning>,
        }
        let mut groups: BTreeMap<&str, Group<'_>> = BTreeMap::new();
        for l in &all {
            let Some(p) = l.error_pattern.as_deref() else { continue };
            let g = groups.entry(p).or_default();
            if l.success {
                g.successes.push(l);
            } else {
                g.failures.push(l);
            }
        }
        let now = now_timestamp();
        let mut out = Vec::new();
        for (name, g) in groups {
            let occurrences = g.failures.len() as u64;
            if occurrences == 0 || occurrences < min_occurrences.max(1) {
                continue;
            }
            let mut by_construct: BTreeMap<&str, u64> = BTreeMap::new();
            for f in &g.failures {
                *by_construct.entry(f.construct_type.as_str()).or_default() += 1;
            }
            let construct_type = by_construct
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                .map(|(c, _)| c.to_string())
                .unwrap_or_default();
            // Newest = last in the file (appended in time order).
            let bad = g.failures.iter().rev().find(|l| l.construct_type == construct_type).or(g.failures.last());
            let good = g.successes.iter().rev().find(|l| l.construct_type == construct_type).or(g.successes.last());
            let (why_fails, how_to_fix) = match rule(name) {
                Some(r) => (r.why_fails.to_string(), r.how_to_fix.to_string()),
                None => (
                    format!(
                        "Validation rejected the code with: {}",
                        bad.and_then(|b| b.validation_errors.first()).map(String::as_str).unwrap_or(name)
                    ),
                    "Avoid what the bad example does.".to_string(),
                ),
            };
            let rate = (g.successes.len() as f64 / occurrences as f64).min(1.0);
            let hashes = g
                .failures
                .iter()
                .rev()
                .take(MAX_LEARNING_HASHES)
                .chain(g.successes.iter().rev().take(MAX_LEARNING_HASHES))
                .map(|l| l.hash.clone())
                .take(MAX_LEARNING_HASHES)
                .collect();
            out.push(Pattern {
                pattern_name: name.to_string(),
                language: LANGUAGE.to_string(),
                construct_type,
                occurrence_count: occurrences,
                success_rate: (rate * 100.0).round() / 100.0,
                bad_example: bad.map(|l| l.generated_code.clone()).unwrap_or_default(),
                good_example: good.map(|l| l.generated_code.clone()).unwrap_or_default(),
                why_fails,
                how_to_fix,
                learning_hashes: hashes,
                last_updated: now.clone(),
                ..Default::default()
            });
        }
        out.sort_by(|a, b| {
            b.occurrence_count.cmp(&a.occurrence_count).then_with(|| a.pattern_name.cmp(&b.pattern_name))
        });
        Self::save(&self.patterns_file(), &out);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The data set: deterministic, realistic-size Go attempts.
// ---------------------------------------------------------------------------------------------

/// xorshift64*: deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// (pattern, diagnostic, fix). Frequencies are Zipf-like: the first is the most common.
const PATTERNS: &[(&str, &str, &str)] = &[
    (
        "go_import_error",
        "package telemetry_utils is not in std (/usr/local/go/src/telemetry_utils)",
        "Removed import statement, used Tel directly",
    ),
    ("go_undefined_tel", "undefined: Tel", "Wrote the Tel runtime file into the package"),
    ("go_unused_variable", "declared and not used: span", "Used the span in the deferred exit"),
    (
        "go_syntax_error",
        "syntax error: unexpected newline in argument list; possibly missing comma or )",
        "Closed the call's parenthesis",
    ),
    (
        "go_type_error",
        "cannot use n (variable of type int) as string value in argument to Tel.Var",
        "Formatted the value with strconv.Itoa",
    ),
    ("go_unused_import", "\"fmt\" imported and not used", "Removed the unused fmt import"),
    ("go_missing_return", "missing return", "Kept the original return after the inserted exit"),
    ("go_no_new_variables", "no new variables on left side of :=", "Used = instead of :="),
    (
        "go_undefined_member",
        "Tel.FuncEnter undefined (type *telemetry.Tracer has no field or method FuncEnter)",
        "Called Tel.FuncEntry",
    ),
    ("go_redeclared", "span redeclared in this block", "Renamed the inserted variable to __telSpan"),
    (
        "go_argument_count",
        "not enough arguments in call to Tel.FuncEntry\n\thave ()\n\twant (string)",
        "Passed the qualified function name",
    ),
    (
        "go_assignment_mismatch",
        "assignment mismatch: 2 variables but Tel.FuncEntry returns 1 value",
        "Assigned the single return value",
    ),
    (
        "go_unused_result",
        "Tel.FuncEntry(\"main.Run\") (value of type func()) is not used",
        "Deferred the returned exit function",
    ),
    ("go_undefined", "undefined: tel", "Used the exported name Tel"),
    ("go_goto_jump", "goto retry jumps over variable declaration at line 41", "Declared the variable before the label"),
    (
        "go_import_cycle",
        "package example.com/app/core\n\timports example.com/app/core/tel: import cycle not allowed",
        "Moved the helper into the same package",
    ),
    ("go_copylocks", "call of Tel.Record copies lock value: sync.Mutex", "Passed the struct by pointer"),
    (
        "go_nosplit_overflow",
        "runtime.procyield: nosplit stack over 792 byte limit",
        "Skipped instrumenting nosplit functions",
    ),
    (
        "go_msg_build_constraint_3c9e01aa",
        "//go:build comment without // +build comment",
        "Kept the build constraint as the first line",
    ),
    ("go_msg_vet_printf_7d21b0f4", "fmt.Sprintf format %d has arg name of wrong type string", "Used %s for the name"),
];

const CONSTRUCTS: &[(&str, u64)] = &[("function", 60), ("loop", 25), ("variable", 15)];

const CODE_LINES: &[&str] = &[
    "\tdefer Tel.FuncExit(Tel.FuncEntry(\"{pkg}.{fn}\"))(nil)\n",
    "\tfor i, item := range items {\n\t\tTel.Loop(\"{pkg}.{fn}\", i)\n\t\t_ = item\n\t}\n",
    "\tspan := Tel.Var(\"{pkg}.{fn}\", \"count\", count)\n",
    "\tif err != nil {\n\t\tTel.Error(\"{pkg}.{fn}\", err)\n\t\treturn err\n\t}\n",
    "\tresult, err := client.Do(ctx, req)\n",
    "\tTel.Var(\"{pkg}.{fn}\", \"result\", fmt.Sprint(result))\n",
    "\tmu.Lock()\n\tdefer mu.Unlock()\n",
    "\tcount += len(batch)\n",
    "\tlog.Printf(\"processed %d items\", count)\n",
    "\tch <- struct{}{}\n",
];
const PACKAGES: &[&str] = &["main", "server", "store", "worker", "handler", "cache", "auth", "queue"];
const FUNCS: &[&str] = &["Run", "Handle", "Process", "Load", "Save", "Fetch", "Dispatch", "Validate", "Merge", "Flush"];

struct Generator {
    rng: Rng,
    cum: Vec<f64>,
    seq: u64,
    base: DateTime<Utc>,
    tag: u64,
}

impl Generator {
    fn new(seed: u64) -> Self {
        let weights: Vec<f64> = (0..PATTERNS.len()).map(|k| 1.0 / ((k + 1) as f64).powf(1.1)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cum = weights.iter().map(|w| {
            acc += w / total;
            acc
        });
        Generator {
            rng: Rng(seed | 1),
            cum: cum.collect(),
            seq: 0,
            base: DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap().with_timezone(&Utc),
            tag: seed,
        }
    }

    fn pattern(&mut self) -> usize {
        let u = (self.rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        self.cum.iter().position(|&c| u <= c).unwrap_or(PATTERNS.len() - 1)
    }

    fn construct(&mut self) -> &'static str {
        let mut r = self.rng.below(100);
        for &(c, w) in CONSTRUCTS {
            if r < w {
                return c;
            }
            r -= w;
        }
        CONSTRUCTS[0].0
    }

    fn code(&mut self, pkg: &str, func: &str) -> String {
        let target = 200 + self.rng.below(401) as usize;
        let mut s = format!("func {func}(ctx context.Context, items []Item) error {{\n");
        while s.len() < target.saturating_sub(4) {
            let line = self.rng.pick(CODE_LINES).replace("{pkg}", pkg).replace("{fn}", func);
            if s.len() + line.len() > 600 {
                break;
            }
            s.push_str(&line);
        }
        s.push_str("\treturn nil\n}\n");
        s
    }

    fn timestamp(&mut self) -> String {
        self.seq += 1;
        format_timestamp(self.base + chrono::Duration::seconds(self.seq as i64))
    }

    /// One episode: 1-3 failed attempts on one subject, then (85% of the time) the fixing success.
    fn episode(&mut self, episode: u64, out: &mut Vec<Learning>, n: usize) {
        let p = self.pattern();
        let (pattern, message, fix) = PATTERNS[p];
        let construct = self.construct();
        let pkg = *self.rng.pick(PACKAGES);
        let func = format!("{}{}", self.rng.pick(FUNCS), self.rng.below(500));
        let file = format!("{pkg}/{}.go", func.to_lowercase());
        let subject = format!("{file}:{}:{func}", 10 + self.rng.below(900));
        let run_id = format!("run-{:x}-{episode:08}", self.tag & 0xffff);
        let failures = 1 + self.rng.below(3) as u32;
        let mut context = BTreeMap::new();
        context.insert(SUBJECT_KEY.to_string(), subject);
        for attempt in 1..=failures {
            if out.len() >= n {
                return;
            }
            let line = 10 + self.rng.below(400);
            let col = 1 + self.rng.below(40);
            let mut errors = vec![format!("./{file}:{line}:{col}: {message}")];
            if self.rng.chance(0.3) {
                errors.push(format!("./{file}:{}:{}: too many errors", line + 3, 2));
            }
            let mut l = Learning {
                language: LANGUAGE.into(),
                construct_type: construct.into(),
                attempt_number: attempt,
                success: false,
                generated_code: self.code(pkg, &func),
                validation_errors: errors,
                error_pattern: Some(pattern.into()),
                fix_applied: None,
                timestamp: self.timestamp(),
                hash: String::new(),
                run_id: Some(run_id.clone()),
                generator: None,
                context: context.clone(),
            };
            l.hash = l.content_hash();
            out.push(l);
        }
        if out.len() < n && self.rng.chance(0.85) {
            let mut l = Learning {
                language: LANGUAGE.into(),
                construct_type: construct.into(),
                attempt_number: failures + 1,
                success: true,
                generated_code: self.code(pkg, &func),
                validation_errors: Vec::new(),
                error_pattern: Some(pattern.into()),
                fix_applied: Some(fix.into()),
                timestamp: self.timestamp(),
                hash: String::new(),
                run_id: Some(run_id),
                generator: None,
                context,
            };
            l.hash = l.content_hash();
            out.push(l);
        }
    }
}

fn generate(n: usize, seed: u64) -> Vec<Learning> {
    let mut g = Generator::new(seed);
    let mut out = Vec::with_capacity(n);
    let mut episode = 0;
    while out.len() < n {
        g.episode(episode, &mut out, n);
        episode += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

fn measure(samples: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..samples)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

fn list(xs: &[Duration]) -> String {
    xs.iter().map(|d| fmt_d(*d)).collect::<Vec<_>>().join(", ")
}

fn median(xs: &[Duration]) -> Duration {
    let mut v = xs.to_vec();
    v.sort();
    if v.is_empty() {
        Duration::ZERO
    } else {
        v[v.len() / 2]
    }
}

fn ratio(base: Duration, ours: Duration) -> f64 {
    base.as_secs_f64() / ours.as_secs_f64().max(1e-9)
}

fn fmt_d(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{:.1} us", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn fmt_bytes(b: u64) -> String {
    let mb = b as f64 / (1024.0 * 1024.0);
    if mb >= 1.0 {
        format!("{mb:.1} MiB")
    } else {
        format!("{:.1} KiB", b as f64 / 1024.0)
    }
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn pct(a: usize, b: usize) -> f64 {
    100.0 * a as f64 / b.max(1) as f64
}

fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "NO (check the data or either implementation)"
    }
}
