//! Instrument benchmark: every row of issue 10's table as a ratio against its floor, both measured
//! in the same run, with the commands a user runs.
//!
//! ```text
//! cargo bench -p teleforge-instrument --bench instrument
//! TELEFORGE_BENCH_QUICK=1 cargo bench -p teleforge-instrument --bench instrument
//! ```
//!
//! The command measured is the release `teleforge` binary. The bench builds it first with
//! `cargo build --release -p teleforge --bin teleforge` into the bench's own target folder (a no-op
//! when it is up to date); `TELEFORGE_BIN=/path/to/teleforge` uses that binary instead.
//!
//! 1. Throughput: `teleforge instrument TREE --no-validate --out FRESH --storage-dir STORE --json`
//!    (a spawned process, whole command: start-up, store, walk, parse, rewrite, copy of the tree,
//!    writes) against a single-threaded tree-sitter pass in this process that reads and parses,
//!    with one parser and no walk of the syntax tree, exactly the files the command parses (those
//!    `discover` does not skip before parsing). Same files, so the ratio is
//!    floor seconds / command seconds (target ≥ 0.8). Floor and command alternate; the ratio of
//!    each adjacent pair is taken, then the median.
//! 2. Validation: per sample, a fresh copy of the tree at a new path (Go: built once with a plain
//!    `go build ./...`, untimed, as a user's module has been; the standard library and the
//!    dependencies are in the build cache, the module's own packages at that path are not), then
//!    the same command with `--no-validate` and with validation (each with a fresh store and a
//!    fresh output folder), then one plain compiler pass over the instrumented output: Go
//!    `go build ./...`; Python one `python3` process that `compile()`s every `.py` file; JavaScript
//!    one `node` process that parses every `.js`/`.mjs`/`.cjs` file (`vm.compileFunction` for
//!    CommonJS, `vm.SourceTextModule` for ES modules). Validation time is the summary's
//!    `validation_seconds` (toolchain processes only) and, as a user sees it, the validated
//!    command's wall time minus the `--no-validate` command's (that also holds capturing every
//!    attempt as a learning and the automatic consolidation). Target ≤ 1.25× the plain pass.
//! 3. Compiler runs against constructs (from the validated runs): runs must stay bounded by
//!    rounds (at most `--max-attempts` + 1), one preparation run, baselines, and isolation
//!    (log2 of the constructs per round), never grow with constructs.
//!
//! Trees: the Python standard library of `python3` (its folders and `.py` files, without
//! `site-packages`), lodash 4.17.21 (`npm pack`), `golang.org/x/text@v0.21.0` from the module proxy
//! (throughput: its non-generated files, i.e. the module without the `.go` files that carry
//! "Code generated … DO NOT EDIT"; validation: the whole module, which needs them to build).
//! Quick: the stdlib's `json`, `email`, `asyncio` packages, lodash, `golang.org/x/sync@v0.10.0`.
//!
//! The go command uses a module cache and a build cache under the Cargo target's tmp folder
//! (`instrument-bench/`), kept between runs (downloads once; the first run also compiles the
//! standard library). Outputs are only removed at the end: on this ext4 (no journal) every file
//! created within seconds of many deletions pays for a scan of recently deleted inodes.
//!
//! Environment: `TELEFORGE_BENCH_QUICK=1`, `TELEFORGE_BENCH_SAMPLES=N` (default 3; throughput takes
//! at least 5), `TELEFORGE_BENCH_ONLY=throughput|validation`, `TELEFORGE_BENCH_LANGUAGES=python,go,javascript`,
//! `TELEFORGE_BIN`. Progress on stderr, tables on stdout; nothing asserts on time.

mod trees;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use teleforge_instrument::language::LanguageSupport;
use teleforge_instrument::{discover, DiscoverOptions};
use trees::{command_output, copy_dir, download_go_module, loadavg, npm_pack, Cleanup};

const TARGET_THROUGHPUT: f64 = 0.8;
const TARGET_VALIDATION: f64 = 1.25;
const MAX_ATTEMPTS: usize = 3;
const PY_QUICK_PACKAGES: &[&str] = &["json", "email", "asyncio"];
const NPM_PACKAGE: &str = "lodash@4.17.21";
const GO_MODULE_FULL: &str = "golang.org/x/text@v0.21.0";
const GO_MODULE_QUICK: &str = "golang.org/x/sync@v0.10.0";
const GENERATED: &str = "DO NOT EDIT";

/// Python's plain pass: `compile()` every `.py` file under argv[1] in this one process.
const PY_PLAIN_PASS: &str = r#"
import os, sys, warnings
warnings.simplefilter("ignore")
n = bad = 0
for d, dirs, files in os.walk(sys.argv[1]):
    dirs[:] = [x for x in dirs if x != "__pycache__"]
    for f in files:
        if f.endswith(".py"):
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                src = fh.read()
            try:
                compile(src, p, "exec", dont_inherit=True)
            except (SyntaxError, ValueError):
                bad += 1
            n += 1
print(n, "files,", bad, "with errors")
"#;

/// JavaScript's plain pass: one node process parses every file under argv[2] as node loads it.
const JS_PLAIN_PASS: &str = r#"
const fs = require('fs'), path = require('path'), vm = require('vm');
const P = ['exports', 'require', 'module', '__filename', '__dirname'];
const types = new Map();
function type(dir) {
  if (types.has(dir)) return types.get(dir);
  let t;
  try { t = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).type === 'module' ? 'esm' : 'cjs'; }
  catch { t = path.dirname(dir) === dir ? 'cjs' : type(path.dirname(dir)); }
  types.set(dir, t);
  return t;
}
let n = 0, bad = 0;
function walk(d) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) { if (e.name !== 'node_modules') walk(p); continue; }
    if (!/\.[cm]?js$/.test(e.name)) continue;
    let src = fs.readFileSync(p, 'utf8');
    if (src.charCodeAt(0) === 0xfeff) src = src.slice(1);
    const k = p.endsWith('.mjs') ? 'esm' : p.endsWith('.cjs') ? 'cjs' : type(path.dirname(p));
    try {
      if (k === 'esm') new vm.SourceTextModule(src, { identifier: p });
      else vm.compileFunction(src, P, { filename: p });
    } catch { bad++; }
    n++;
  }
}
walk(process.argv[2]);
console.log(n, 'files,', bad, 'with errors');
"#;

#[derive(Clone)]
struct Tree {
    lang: &'static str,
    label: String,
    /// The tree the throughput row instruments.
    throughput: PathBuf,
    /// The tree the validation row instruments.
    validation: PathBuf,
}

fn main() {
    let started = Instant::now();
    let quick = std::env::var("TELEFORGE_BENCH_QUICK").is_ok_and(|v| v == "1");
    let samples: usize =
        std::env::var("TELEFORGE_BENCH_SAMPLES").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(3);
    let only = std::env::var("TELEFORGE_BENCH_ONLY").unwrap_or_default();
    let languages = std::env::var("TELEFORGE_BENCH_LANGUAGES").unwrap_or_else(|_| "python,javascript,go".into());
    let wanted = |l: &str| languages.split(',').any(|x| x.trim() == l);
    let work = tempfile::Builder::new().prefix("teleforge-bench-").tempdir().expect("creating a temp dir");
    let work = work.path().canonicalize().expect("temp dir").to_path_buf();
    let _cleanup = Cleanup(work.clone());
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("instrument-bench");
    std::fs::create_dir_all(&cache).unwrap();
    eprintln!("[bench] work dir {}, caches in {}", work.display(), cache.display());

    trees::go_caches_in(&cache, "-buildvcs=false");
    std::env::set_var("GOTOOLCHAIN", "local");
    std::env::set_var("PYTHONDONTWRITEBYTECODE", "1");
    std::env::remove_var("TELEMETRY_FILE");

    let bin = trees::teleforge_release_binary();
    let load_start = loadavg();
    let versions = format!(
        "{}; {}; node {}",
        command_output("python3", &["--version"]).trim(),
        command_output("go", &["version"]).trim(),
        command_output("node", &["--version"]).trim()
    );

    // Trees.
    let mut trees = Vec::new();
    if wanted("python") {
        let t = work.join("trees/py");
        let label = if quick {
            trees::copy_python_stdlib(&t, Some(PY_QUICK_PACKAGES));
            format!("Python stdlib: {}", PY_QUICK_PACKAGES.join(","))
        } else {
            trees::copy_python_stdlib(&t, None);
            "Python stdlib".to_string()
        };
        trees.push(Tree { lang: "python", label, throughput: t.clone(), validation: t });
    }
    if wanted("javascript") {
        eprintln!("[bench] npm pack {NPM_PACKAGE}");
        let t = npm_pack(NPM_PACKAGE, &work);
        trees.push(Tree {
            lang: "javascript",
            label: format!("npm {NPM_PACKAGE}"),
            throughput: t.clone(),
            validation: t,
        });
    }
    if wanted("go") {
        let module = if quick { GO_MODULE_QUICK } else { GO_MODULE_FULL };
        eprintln!("[bench] go mod download {module}");
        let full = download_go_module(module, &work);
        let ng = work.join("trees/go-non-generated");
        copy_dir(&full, &ng, &|p| !(p.extension().is_some_and(|e| e == "go") && is_generated(p)));
        trees.push(Tree {
            lang: "go",
            label: module.to_string(),
            throughput: if quick { full.clone() } else { ng },
            validation: full,
        });
    }

    println!(
        "teleforge-instrument benchmark ({}; {versions}; {} cores; load average at start {load_start}; binary {})",
        if quick { "QUICK" } else { "full" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        bin.display()
    );

    let mut tp = Vec::new();
    if only.is_empty() || only == "throughput" {
        for t in &trees {
            tp.push(throughput(&bin, t, &work, samples.max(5)));
        }
    }
    let mut vals = Vec::new();
    if only.is_empty() || only == "validation" {
        if trees.iter().any(|t| t.lang == "go") {
            // The standard library and the dependencies, into the build cache (untimed).
            let t = trees.iter().find(|t| t.lang == "go").unwrap();
            let warm = work.join("go-warm");
            copy_dir(&t.validation, &warm, &|_| true);
            let s = Instant::now();
            let (ok, _) = run_quiet(Command::new("go").args(["build", "./..."]).current_dir(&warm));
            eprintln!("[bench] go warm-up build: {:.1} s (ok: {ok})", s.elapsed().as_secs_f64());
        }
        for t in &trees {
            vals.push(validation(&bin, t, &work, samples));
        }
    }
    print_tables(&tp, &vals);
    let total = started.elapsed();
    println!("\ntotal runtime {:.1} s; load average at start {load_start}, at end {}", total.as_secs_f64(), loadavg());
    eprintln!("[bench] done in {:.1} s", total.as_secs_f64());
}

// ---------------------------------------------------------------------------------------------
// The command

struct Run {
    wall: f64,
    /// User + system CPU seconds of the process and its children.
    cpu: f64,
    summary: serde_json::Value,
}

/// `teleforge instrument ROOT [--no-validate] --out OUT --storage-dir STORE --json`.
fn instrument(bin: &Path, root: &Path, out: &Path, store: &Path, validate: bool) -> Run {
    let mut cmd = Command::new(bin);
    cmd.arg("instrument").arg(root).arg("--out").arg(out).arg("--storage-dir").arg(store).arg("--json");
    if !validate {
        cmd.arg("--no-validate");
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let before = children_cpu();
    let t = Instant::now();
    let o = cmd.output().expect("running teleforge");
    let wall = t.elapsed().as_secs_f64();
    let cpu = children_cpu() - before;
    // Exit 1: done, some constructs left out (still a measurement).
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "teleforge instrument {} failed ({:?}): {}",
        root.display(),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let summary = serde_json::from_slice(&o.stdout).expect("teleforge --json summary");
    Run { wall, cpu, summary }
}

fn children_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    s(u.ru_utime) + s(u.ru_stime)
}

// ---------------------------------------------------------------------------------------------
// 1. Throughput

struct Throughput {
    tree: Tree,
    files_walked: usize,
    files_parsed: usize,
    bytes_parsed: usize,
    constructs: u64,
    floor: f64,
    command: f64,
    command_cpu: f64,
    discover_in_process: f64,
    ratio: f64,
    ratios: Vec<f64>,
}

fn is_parsed(f: &teleforge_instrument::discover::DiscoveredFile) -> bool {
    f.skipped.is_none() || f.skipped.as_deref() == Some("has syntax errors")
}

fn throughput(bin: &Path, tree: &Tree, work: &Path, samples: usize) -> Throughput {
    let root = &tree.throughput;
    let label = &tree.label;
    let files = discover(root, &DiscoverOptions::default()).expect("discover");
    let parsed: Vec<(PathBuf, &'static dyn LanguageSupport)> =
        files.iter().filter(|f| is_parsed(f)).map(|f| (f.path.clone(), f.language)).collect();
    let bytes_parsed: usize = files.iter().filter(|f| is_parsed(f)).map(|f| f.source.text.len()).sum();
    let files_walked = files.len();
    drop(files);
    let store = work.join(format!("store-tp-{}", tree.lang));
    let out = |k: &str| work.join(format!("out/tp-{}-{k}", tree.lang));
    eprintln!("[bench] 1. {label}: warm-up");
    let warm = instrument(bin, root, &out("warm"), &store, false);
    let _ = parse_only(&parsed);
    let (mut floor, mut cmd, mut cpu, mut disc, mut ratios) = (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..samples {
        eprintln!("[bench] 1. {label}: sample {}/{samples}", i + 1);
        let (f, r) = if i % 2 == 0 {
            let f = parse_only(&parsed);
            (f, instrument(bin, root, &out(&i.to_string()), &store, false))
        } else {
            let r = instrument(bin, root, &out(&i.to_string()), &store, false);
            (parse_only(&parsed), r)
        };
        let t = Instant::now();
        let d = discover(root, &DiscoverOptions::default()).expect("discover");
        disc.push(t.elapsed().as_secs_f64());
        drop(d);
        ratios.push(f / r.wall);
        floor.push(f);
        cmd.push(r.wall);
        cpu.push(r.cpu);
    }
    Throughput {
        tree: tree.clone(),
        files_walked,
        files_parsed: parsed.len(),
        bytes_parsed,
        constructs: warm.summary["constructs_found"].as_u64().unwrap_or(0),
        floor: median(floor),
        command: median(cmd),
        command_cpu: median(cpu),
        discover_in_process: median(disc),
        ratio: median(ratios.clone()),
        ratios,
    }
}

/// Reads and parses every file, one thread, one parser; no walk of the syntax tree.
fn parse_only(files: &[(PathBuf, &'static dyn LanguageSupport)]) -> f64 {
    let t = Instant::now();
    let mut parser = tree_sitter::Parser::new();
    let mut errors = 0usize;
    for (path, lang) in files {
        let text = std::fs::read_to_string(path).expect("reading");
        parser.set_language(&lang.grammar()).expect("grammar");
        let tree = parser.parse(&text, None).expect("parse");
        errors += usize::from(tree.root_node().has_error());
    }
    std::hint::black_box(errors);
    t.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// 2. Validation

struct Validation {
    tree: Tree,
    validation_seconds: f64,
    difference: f64,
    plain: f64,
    no_validate: f64,
    validated: f64,
    ratio_seconds: f64,
    ratio_difference: f64,
    summary: serde_json::Value,
    runs: Vec<u64>,
    plain_note: String,
}

fn plain_pass(lang: &str, out: &Path, work: &Path) -> (f64, String) {
    let mut cmd = match lang {
        "go" => {
            let mut c = Command::new("go");
            c.args(["build", "./..."]).current_dir(out);
            c
        }
        "python" => {
            let mut c = Command::new("python3");
            c.arg("-c").arg(PY_PLAIN_PASS).arg(out);
            c
        }
        _ => {
            let script = work.join("js_plain_pass.cjs");
            if !script.exists() {
                std::fs::write(&script, JS_PLAIN_PASS).unwrap();
            }
            let mut c = Command::new("node");
            c.args(["--experimental-vm-modules", "--no-warnings"]).arg(&script).arg(out);
            c
        }
    };
    let t = Instant::now();
    let (ok, text) = run_quiet(&mut cmd);
    let d = t.elapsed().as_secs_f64();
    let note = if lang == "go" {
        if ok {
            "builds".to_string()
        } else {
            format!("fails: {}", text.lines().find(|l| l.contains(".go:")).unwrap_or("").trim())
        }
    } else {
        text.trim().to_string()
    };
    (d, note)
}

fn validation(bin: &Path, tree: &Tree, work: &Path, samples: usize) -> Validation {
    let label = &tree.label;
    let (mut vs, mut diff, mut plain, mut nv, mut v, mut runs) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut r_s, mut r_d) = (vec![], vec![]);
    let mut summary = serde_json::Value::Null;
    let mut note = String::new();
    for i in 0..samples {
        eprintln!("[bench] 2. {label}: sample {}/{samples}", i + 1);
        let dir = work.join(format!("val/{}-{i}", tree.lang));
        let src = dir.join("src");
        copy_dir(&tree.validation, &src, &|_| true);
        if tree.lang == "go" {
            // The user's own build of their module (untimed).
            run_quiet(Command::new("go").args(["build", "./..."]).current_dir(&src));
        }
        let a = instrument(bin, &src, &dir.join("out-nv"), &dir.join("store-nv"), false);
        let b = instrument(bin, &src, &dir.join("out"), &dir.join("store"), true);
        let (p, n) = plain_pass(tree.lang, &dir.join("out"), work);
        let secs = b.summary["validation_seconds"].as_f64().unwrap_or(f64::NAN);
        vs.push(secs);
        diff.push(b.wall - a.wall);
        plain.push(p);
        nv.push(a.wall);
        v.push(b.wall);
        r_s.push(secs / p);
        r_d.push((b.wall - a.wall) / p);
        runs.push(b.summary["compiler_runs"].as_u64().unwrap_or(0));
        note = n;
        summary = b.summary;
        eprintln!(
            "[bench]    validation_seconds {secs:.2}, command {:.2} - {:.2} (no-validate), plain pass {p:.2} s",
            b.wall, a.wall
        );
    }
    Validation {
        tree: tree.clone(),
        validation_seconds: median(vs),
        difference: median(diff),
        plain: median(plain),
        no_validate: median(nv),
        validated: median(v),
        ratio_seconds: median(r_s),
        ratio_difference: median(r_d),
        summary,
        runs,
        plain_note: note,
    }
}

// ---------------------------------------------------------------------------------------------
// Tables

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

fn print_tables(tp: &[Throughput], vals: &[Validation]) {
    if !tp.is_empty() {
        println!("\n1. instrument --no-validate (whole command) vs single-threaded tree-sitter parse-only, same files");
        println!(
            "{:<30} {:>11} {:>8} {:>10} {:>10} {:>9} {:>9} {:>8} {:>7}  {}",
            "tree", "files w/p", "MB", "constructs", "command s", "cpu s", "floor s", "ratio", "target", "verdict"
        );
        for r in tp {
            println!(
                "{:<30} {:>11} {:>8.2} {:>10} {:>10.3} {:>9.3} {:>9.3} {:>7.2}x {:>6}x  {}",
                r.tree.label,
                format!("{}/{}", r.files_walked, r.files_parsed),
                r.bytes_parsed as f64 / 1e6,
                r.constructs,
                r.command,
                r.command_cpu,
                r.floor,
                r.ratio,
                format!("≥{TARGET_THROUGHPUT}"),
                verdict(r.ratio >= TARGET_THROUGHPUT)
            );
        }
        println!(
            "ratio = floor s / command s per adjacent pair, median; files w/p = files discovery walked / parsed; \
             cpu s = the command's user+system CPU."
        );
        for r in tp {
            let rs: Vec<String> = r.ratios.iter().map(|x| format!("{x:.2}")).collect();
            println!(
                "  {}: pair ratios [{}]; discover() in this process (all cores, no output) {:.3} s; floor {:.1} MB/s",
                r.tree.label,
                rs.join(", "),
                r.discover_in_process,
                r.bytes_parsed as f64 / 1e6 / r.floor
            );
        }
    }
    if !vals.is_empty() {
        println!("\n2. validation vs one plain compiler pass over the instrumented output");
        println!(
            "{:<30} {:>9} {:>9} {:>8} {:>10} {:>10} {:>8}  {:>8} {:>8}  {}",
            "tree",
            "valid. s",
            "cmd diff",
            "plain s",
            "v.s/plain",
            "diff/plain",
            "target",
            "verdict",
            "(diff)",
            "plain pass"
        );
        for r in vals {
            println!(
                "{:<30} {:>9.2} {:>9.2} {:>8.2} {:>9.2}x {:>9.2}x {:>7}x  {:>8} {:>8}  {}",
                r.tree.label,
                r.validation_seconds,
                r.difference,
                r.plain,
                r.ratio_seconds,
                r.ratio_difference,
                format!("≤{TARGET_VALIDATION}"),
                verdict(r.ratio_seconds <= TARGET_VALIDATION),
                verdict(r.ratio_difference <= TARGET_VALIDATION),
                r.plain_note
            );
        }
        println!(
            "valid. s = summary validation_seconds (toolchain processes); cmd diff = validated command − --no-validate \
             command (wall; medians {}); ratios are medians of per-sample ratios.",
            vals.iter()
                .map(|r| format!("{}: {:.2} − {:.2}", r.tree.lang, r.validated, r.no_validate))
                .collect::<Vec<_>>()
                .join(", ")
        );

        println!("\n3. compiler runs vs constructs (validated runs)");
        println!(
            "{:<30} {:>10} {:>12} {:>9} {:>6} {:>9} {:>9} {:>10} {:>9} {:>6}  {}",
            "tree",
            "found",
            "instrumented",
            "left out",
            "runs",
            "baseline",
            "isolation",
            "runs/constr",
            "bound",
            "per sample",
            "verdict"
        );
        for r in vals {
            let s = &r.summary;
            let n = |k: &str| s[k].as_u64().unwrap_or(0);
            let found = n("constructs_found");
            let rounds = MAX_ATTEMPTS as u64 + 1;
            let log2 = (found.max(2) as f64).log2().ceil() as u64;
            // Rounds, one preparation run, one baseline per round, isolation by halving per round.
            let bound = rounds + 1 + rounds + rounds * log2;
            let runs = n("compiler_runs");
            let per: Vec<String> = r.runs.iter().map(|x| x.to_string()).collect();
            println!(
                "{:<30} {:>10} {:>12} {:>9} {:>6} {:>9} {:>9} {:>10.6} {:>9} {:>6}  {}",
                r.tree.label,
                found,
                n("constructs_instrumented"),
                s["left_out"].as_array().map_or(0, |a| a.len()),
                runs,
                n("baseline_runs"),
                n("isolation_runs"),
                runs as f64 / found.max(1) as f64,
                bound,
                per.join(","),
                verdict(runs <= bound)
            );
        }
        println!(
            "bound = (max_attempts+1) rounds + 1 preparation + 1 baseline per round + ⌈log2 constructs⌉ isolation \
             checks per round: it grows with log2(constructs), never with constructs."
        );
        for r in vals {
            let s = &r.summary;
            println!(
                "  {}: files seen {}, instrumented {}, skipped {}",
                r.tree.label, s["files_seen"], s["files_instrumented"], s["files_skipped"]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Trees and helpers

/// Runs `cmd` with output captured; whether it succeeded and its stdout + stderr.
fn run_quiet(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().expect("starting a toolchain");
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

fn is_generated(p: &Path) -> bool {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    text.lines().take(3).any(|l| l.contains("Code generated") && l.contains(GENERATED))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}
