//! Instrument benchmark: each of our costs against a baseline measured in the same run.
//!
//! ```text
//! cargo bench -p teleforge-instrument --bench instrument
//! TELEFORGE_BENCH_QUICK=1 cargo bench -p teleforge-instrument --bench instrument
//! ```
//!
//! 1. Throughput: `discover` + applying every construct's first form (`rewrite::apply`), against
//!    tree-sitter parsing alone (read + parse, no tree walk) of exactly the files discovery parses.
//!    Both rates use the same byte count (the parsed files); discovery's extra work (walking the
//!    folders, reading files it then skips) is its own cost. Also printed: the same with the
//!    per-file edits the pipeline adds when it renders (the runtime import; Python's parses the
//!    file again), and a per-phase breakdown from a replica of discovery's loop.
//! 2. Validation: `instrument` with validation on, `validation_seconds` against one plain compiler
//!    pass over the instrumented output tree (Go: `go build -o /dev/null ./...`; Python: one
//!    `python3` process that `compile()`s every `.py` file of the output). Go runs in two
//!    regimes: "warm" (as asked: after one untimed warm-up of both, everything is in the build
//!    cache) and "module cold" (std and dependencies cached, the module's own packages not: each
//!    sample uses a fresh copy at a new path, and the go command keys packages on their folder).
//!    Also timed: one plain pass over the original tree (what the baseline check compiles), and
//!    for Python the validator's script on its own, with and without pyflakes.
//! 3. Compiler runs against one run per construct.
//!
//! Trees: the Python standard library of `python3` (throughput) and a subset of it (validation:
//! the top-level `*.py` files plus `json`, `email`, `asyncio`), and a Go module downloaded
//! through the module proxy at a pinned version into a temporary GOMODCACHE (default
//! `golang.org/x/text@v0.21.0`). The go command uses a temporary GOCACHE, so its state is known.
//!
//! Environment: `TELEFORGE_BENCH_QUICK=1` (a few hundred files: the Python subset and
//! `golang.org/x/sync@v0.10.0`), `TELEFORGE_BENCH_GO_MODULE=path@version`,
//! `TELEFORGE_BENCH_SAMPLES=N` (default 3). Progress goes to stderr, tables to stdout; times are
//! medians; nothing asserts on time.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use teleforge_instrument::discover::DiscoveredFile;
use teleforge_instrument::language::{self, LanguageSupport, SourceFile, GENERATED_MARK};
use teleforge_instrument::rewrite::apply;
use teleforge_instrument::{discover, DiscoverOptions, Edit, InstrumentOptions, OutputMode, Summary};

const PY_SUBSET_PACKAGES: &[&str] = &["json", "email", "asyncio"];
const GO_MODULE_FULL: &str = "golang.org/x/text@v0.21.0";
const GO_MODULE_QUICK: &str = "golang.org/x/sync@v0.10.0";
/// The Python validator's script, run here on its own to split its cost.
const PY_CHECK_SCRIPT: &str = include_str!("../validators/python_check.py");
const TARGET_THROUGHPUT: f64 = 0.8;
const TARGET_VALIDATION: f64 = 1.25;

/// A Python program: `compile()` every `.py` file under argv[1] in this one process.
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
print(n, bad)
"#;

fn main() {
    let started = Instant::now();
    let quick = std::env::var("TELEFORGE_BENCH_QUICK").is_ok_and(|v| v == "1");
    let samples: usize =
        std::env::var("TELEFORGE_BENCH_SAMPLES").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(3);
    let go_module = std::env::var("TELEFORGE_BENCH_GO_MODULE")
        .unwrap_or_else(|_| if quick { GO_MODULE_QUICK } else { GO_MODULE_FULL }.to_string());
    let work = tempfile::Builder::new().prefix("teleforge-bench-").tempdir().expect("creating a temp dir");
    let work = work.path().canonicalize().expect("temp dir").to_path_buf();
    let _cleanup = Cleanup(work.clone());
    eprintln!("[bench] work dir {}", work.display());

    // The go command: its own module and build caches, so the state of both is known.
    let goflags = format!("{} -modcacherw", go_output(&["env", "GOFLAGS"]).trim());
    std::env::set_var("GOMODCACHE", work.join("gomod"));
    std::env::set_var("GOCACHE", work.join("gocache"));
    std::env::set_var("GOFLAGS", goflags.trim());
    std::env::set_var("GOTOOLCHAIN", "local");
    std::env::set_var("PYTHONDONTWRITEBYTECODE", "1");

    let stdlib = PathBuf::from(
        String::from_utf8(
            Command::new("python3")
                .args(["-c", "import sysconfig;print(sysconfig.get_paths()['stdlib'])"])
                .output()
                .expect("python3 on PATH")
                .stdout,
        )
        .unwrap()
        .trim(),
    );
    let py_version = String::from_utf8(Command::new("python3").arg("--version").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let go_version = go_output(&["version"]).trim().to_string();
    // Quick: the packages only; full: the top-level modules too.
    let py_subset = work.join("py-subset");
    copy_python_subset(&stdlib, &py_subset, !quick);
    eprintln!("[bench] downloading {go_module} through the module proxy");
    let go_src = download_go_module(&go_module, &work);

    println!(
        "teleforge-instrument benchmark ({}; {py_version}; {go_version}; {} cores; medians of {samples})",
        if quick { "QUICK" } else { "full" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let py_subset_label = format!("py {}{}", if quick { "" } else { "top-level+" }, PY_SUBSET_PACKAGES.join(","));
    let trees: Vec<(String, PathBuf)> = if quick {
        vec![(py_subset_label.clone(), py_subset.clone()), (go_module.clone(), go_src.clone())]
    } else {
        vec![("python stdlib".to_string(), stdlib.clone()), (go_module.clone(), go_src.clone())]
    };

    // 1. Throughput.
    let mut tp = Vec::new();
    for (label, root) in &trees {
        tp.push(throughput(label, root, samples));
    }
    print_throughput(&tp);

    // 2 and 3. Validation and compiler runs.
    let mut vals = Vec::new();
    vals.push(validate_python(&py_subset_label, &py_subset, &work, samples));
    vals.extend(validate_go(&go_module, &go_src, &work, samples));
    print_validation(&vals);

    let total = started.elapsed();
    println!("\ntotal runtime {:.1} s", total.as_secs_f64());
    eprintln!("[bench] done in {:.1} s", total.as_secs_f64());
}

/// Removes the work dir (module cache files are read-only until made writable).
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("chmod").arg("-R").arg("u+w").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Throughput

struct Throughput {
    label: String,
    files_walked: usize,
    files_parsed: usize,
    bytes_parsed: usize,
    bytes_read: usize,
    constructs: usize,
    files_with_constructs: usize,
    skipped: BTreeMap<String, usize>,
    parse_only: Duration,
    discover_apply: Duration,
    discover_apply_file_edits: Duration,
    discover_alone: Duration,
    breakdown: Breakdown,
}

#[derive(Default, Clone)]
struct Breakdown {
    walk: Duration,
    read: Duration,
    checks: Duration,
    parse: Duration,
    lang_discover: Duration,
    apply: Duration,
    file_edits: Duration,
}

fn is_parsed(f: &DiscoveredFile) -> bool {
    f.skipped.is_none() || f.skipped.as_deref() == Some("has syntax errors")
}

fn throughput(label: &str, root: &Path, samples: usize) -> Throughput {
    let opts = DiscoverOptions::default();
    eprintln!("[bench] 1. {label}: warm-up discovery of {}", root.display());
    let files = discover(root, &opts).expect("discover");
    let parsed: Vec<(PathBuf, &'static dyn LanguageSupport)> =
        files.iter().filter(|f| is_parsed(f)).map(|f| (f.path.clone(), f.language)).collect();
    let bytes_parsed: usize = files.iter().filter(|f| is_parsed(f)).map(|f| f.source.text.len()).sum();
    let bytes_read: usize =
        files.iter().map(|f| std::fs::metadata(&f.path).map(|m| m.len() as usize).unwrap_or(0)).sum();
    let mut skipped = BTreeMap::new();
    for f in &files {
        if let Some(why) = &f.skipped {
            *skipped.entry(why.clone()).or_insert(0) += 1;
        }
    }
    let constructs = files.iter().map(|f| f.constructs.len()).sum();
    let files_with_constructs = files.iter().filter(|f| !f.constructs.is_empty()).count();
    let files_walked = files.len();
    drop(files);
    let _ = parse_only(&parsed); // warm the page cache for both

    let (mut a, mut b, mut bf, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut bd: Vec<Breakdown> = Vec::new();
    for i in 0..samples {
        eprintln!("[bench] 1. {label}: sample {}/{samples}", i + 1);
        // Alternate the order so that drift on a shared machine falls on both sides.
        let mut run = |k: usize| match k {
            0 => a.push(parse_only(&parsed)),
            1 => b.push(discover_apply(root, false)),
            2 => bf.push(discover_apply(root, true)),
            3 => d.push(discover_alone(root)),
            _ => bd.push(breakdown(root)),
        };
        let order: &[usize] = if i % 2 == 0 { &[0, 1, 2, 3, 4] } else { &[4, 3, 2, 1, 0] };
        for &k in order {
            run(k);
        }
    }
    let med = |f: fn(&Breakdown) -> Duration| median(bd.iter().map(f).collect());
    Throughput {
        label: label.to_string(),
        files_walked,
        files_parsed: parsed.len(),
        bytes_parsed,
        bytes_read,
        constructs,
        files_with_constructs,
        skipped,
        parse_only: median(a),
        discover_apply: median(b),
        discover_apply_file_edits: median(bf),
        discover_alone: median(d),
        breakdown: Breakdown {
            walk: med(|b| b.walk),
            read: med(|b| b.read),
            checks: med(|b| b.checks),
            parse: med(|b| b.parse),
            lang_discover: med(|b| b.lang_discover),
            apply: med(|b| b.apply),
            file_edits: med(|b| b.file_edits),
        },
    }
}

/// Reads and parses every file discovery parses; no walk of the syntax tree.
fn parse_only(files: &[(PathBuf, &'static dyn LanguageSupport)]) -> Duration {
    let t = Instant::now();
    let mut parser = tree_sitter::Parser::new();
    let mut errors = 0usize;
    for (path, lang) in files {
        let text = std::fs::read_to_string(path).expect("reading");
        parser.set_language(&lang.grammar()).expect("grammar");
        let tree = parser.parse(&text, None).expect("parse");
        errors += usize::from(tree.root_node().has_error());
    }
    black_box(errors);
    t.elapsed()
}

/// `discover` plus every construct's first form applied (plus the file's own edits if asked).
fn discover_apply(root: &Path, file_edits: bool) -> Duration {
    let t = Instant::now();
    let files = discover(root, &DiscoverOptions::default()).expect("discover");
    let mut out = 0usize;
    for f in &files {
        if f.constructs.is_empty() {
            continue;
        }
        let fe: Vec<Edit> = if file_edits { f.file_edits.clone() } else { Vec::new() };
        let mut edits: Vec<&Edit> = fe.iter().collect();
        for c in &f.constructs {
            if let Some(form) = c.forms.first() {
                edits.extend(form.edits.iter());
            }
        }
        out += apply(&f.source.text, &edits).len();
    }
    black_box(out);
    let d = t.elapsed();
    drop(files);
    d
}

fn discover_alone(root: &Path) -> Duration {
    let t = Instant::now();
    let files = discover(root, &DiscoverOptions::default()).expect("discover");
    black_box(files.len());
    let d = t.elapsed();
    drop(files);
    d
}

/// A replica of `discover`'s loop with a timer per phase (the library's own code is not touched).
fn breakdown(root: &Path) -> Breakdown {
    const SKIPPED_DIRS: &[&str] =
        &["vendor", "node_modules", "__pycache__", "site-packages", "testdata", "bower_components", "jspm_packages"];
    let mut b = Breakdown::default();
    let t = Instant::now();
    let mut paths = Vec::new();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        .parents(true)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(true)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            !(is_dir
                && e.depth() > 0
                && (SKIPPED_DIRS.contains(&name.as_ref()) || e.path().join("pyvenv.cfg").is_file()))
        })
        .build();
    for entry in walker.flatten() {
        if entry.file_type().is_some_and(|t| t.is_file()) {
            paths.push(entry.into_path());
        }
    }
    b.walk = t.elapsed();
    let mut parser = tree_sitter::Parser::new();
    let mut sink = 0usize;
    for path in paths {
        let Some(lang) = language::for_path(&path) else { continue };
        let rel = teleforge_instrument::discover::relative(root, &path);
        if lang.is_runtime_file(&rel) {
            continue;
        }
        let t = Instant::now();
        let text = std::fs::read(&path).ok().and_then(|v| String::from_utf8(v).ok());
        b.read += t.elapsed();
        let Some(text) = text else { continue };
        let t = Instant::now();
        let skip = lang.is_test_file(&rel)
            || text.lines().take(3).any(|l| l.contains(GENERATED_MARK))
            || lang.is_instrumented(&text)
            || lang.skip_file(&text).is_some();
        b.checks += t.elapsed();
        if skip {
            continue;
        }
        let t = Instant::now();
        parser.set_language(&lang.grammar()).expect("grammar");
        let tree = parser.parse(&text, None).expect("parse");
        let broken = tree.root_node().has_error();
        b.parse += t.elapsed();
        if broken {
            continue;
        }
        let source = SourceFile { rel, text, path: None };
        let t = Instant::now();
        let constructs = lang.discover(&source, &tree);
        b.lang_discover += t.elapsed();
        if constructs.is_empty() {
            continue;
        }
        let t = Instant::now();
        let edits: Vec<&Edit> =
            constructs.iter().filter_map(|c| c.forms.first()).flat_map(|f| f.edits.iter()).collect();
        sink += apply(&source.text, &edits).len();
        b.apply += t.elapsed();
        let t = Instant::now();
        sink += lang.file_edits(&source, &tree).len();
        b.file_edits += t.elapsed();
        drop(tree);
    }
    black_box(sink);
    b
}

fn print_throughput(rows: &[Throughput]) {
    println!("\n1. discovery + rewriting vs tree-sitter parse alone (same bytes: the files discovery parses)");
    println!(
        "{:<34} {:>13} {:>9} {:>10} {:>10} {:>12} {:>12} {:>7} {:>12} {:>7}",
        "tree",
        "files walk/prs",
        "MB parsed",
        "MB read",
        "constructs",
        "parse MB/s",
        "disc+rw MB/s",
        "ratio",
        "+file_edits",
        "ratio"
    );
    for r in rows {
        let mb = r.bytes_parsed as f64 / 1e6;
        let a = mb / r.parse_only.as_secs_f64();
        let b = mb / r.discover_apply.as_secs_f64();
        let bf = mb / r.discover_apply_file_edits.as_secs_f64();
        println!(
            "{:<34} {:>13} {:>9.2} {:>10.2} {:>10} {:>12.2} {:>12.2} {:>6.2}x {:>12.2} {:>6.2}x",
            r.label,
            format!("{}/{}", r.files_walked, r.files_parsed),
            mb,
            r.bytes_read as f64 / 1e6,
            r.constructs,
            a,
            b,
            b / a,
            bf,
            bf / a
        );
    }
    println!("target: disc+rw ≥ {TARGET_THROUGHPUT}× parse-only. '+file_edits' adds the per-file edits the pipeline's render makes (runtime import).");
    for r in rows {
        let k = &r.breakdown;
        let sum = k.walk + k.read + k.checks + k.parse + k.lang_discover + k.apply;
        println!("  {}: {} files with constructs; skipped {:?}", r.label, r.files_with_constructs, r.skipped);
        println!(
            "    seconds: parse-only {:.3} | discover() {:.3} | discover()+apply {:.3} | +file_edits {:.3}",
            r.parse_only.as_secs_f64(),
            r.discover_alone.as_secs_f64(),
            r.discover_apply.as_secs_f64(),
            r.discover_apply_file_edits.as_secs_f64()
        );
        let pct = |d: Duration| 100.0 * d.as_secs_f64() / sum.as_secs_f64();
        println!(
            "    phases (replica of discover's loop, sum {:.3} s): walk {:.3} ({:.0}%) read {:.3} ({:.0}%) skip-checks {:.3} ({:.0}%) parse {:.3} ({:.0}%) language walk {:.3} ({:.0}%) apply {:.3} ({:.0}%); file_edits would add {:.3}",
            sum.as_secs_f64(),
            k.walk.as_secs_f64(), pct(k.walk),
            k.read.as_secs_f64(), pct(k.read),
            k.checks.as_secs_f64(), pct(k.checks),
            k.parse.as_secs_f64(), pct(k.parse),
            k.lang_discover.as_secs_f64(), pct(k.lang_discover),
            k.apply.as_secs_f64(), pct(k.apply),
            k.file_edits.as_secs_f64()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2 and 3. Validation and compiler runs

struct Validation {
    label: String,
    regime: &'static str,
    summary: Summary,
    runs: Vec<usize>,
    validation: f64,
    plain: f64,
    /// One plain pass over the original (uninstrumented) tree, what the baseline check compiles.
    plain_original: f64,
    instrument_wall: f64,
    plain_note: String,
    /// Further single-process timings over the same output tree: (what, seconds).
    extra: Vec<(String, f64)>,
}

fn instrument_once(src: &Path, out: &Path) -> (Summary, f64) {
    let _ = std::fs::remove_dir_all(out);
    let opts = InstrumentOptions {
        root: src.to_path_buf(),
        discover: DiscoverOptions::default(),
        validate: true,
        max_attempts: 3,
        output: OutputMode::Copy(out.to_path_buf()),
        validate_cmd: None,
        run_id: "bench".into(),
        learning: Default::default(),
        check_timeout: teleforge_instrument::pipeline::DEFAULT_CHECK_TIMEOUT,
        allow_dirty: false,
    };
    let t = Instant::now();
    let s = teleforge_instrument::instrument(None, &opts, &mut |_| {}).expect("instrument");
    (s, t.elapsed().as_secs_f64())
}

/// Wall time of a command, its status and the first line of its stderr.
fn timed(cmd: &mut Command) -> (f64, String) {
    let t = Instant::now();
    let out = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output().expect("running the toolchain");
    let d = t.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().find(|l| !l.starts_with('#')).unwrap_or("").to_string();
    let note = if out.status.success() {
        let o = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if o.is_empty() {
            "exit 0".to_string()
        } else {
            o
        }
    } else {
        format!("exit {}: {}", out.status.code().unwrap_or(-1), first)
    };
    (d, note)
}

fn plain_python(out: &Path) -> (f64, String) {
    timed(Command::new("python3").arg("-c").arg(PY_PLAIN_PASS).arg(out))
}

fn plain_go(out: &Path) -> (f64, String) {
    timed(Command::new("go").args(["build", "-o", "/dev/null", "./..."]).current_dir(out))
}

/// The validator's own script over every `.py` file of `out`, in one process: with `-S`
/// (site-packages hidden, so neither pyflakes nor ruff: compile only) or as the validator runs it.
fn python_check(out: &Path, compile_only: bool) -> f64 {
    let mut files = Vec::new();
    collect_py(out, out, &mut files);
    let request = serde_json::json!({
        "root": out.to_string_lossy(),
        "files": files.iter().map(|f| serde_json::json!({ "path": f })).collect::<Vec<_>>(),
    });
    let mut cmd = Command::new("python3");
    if compile_only {
        cmd.arg("-S");
    }
    let t = Instant::now();
    let mut child = cmd
        .arg("-c")
        .arg(PY_CHECK_SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    }
    let o = child.wait_with_output().unwrap();
    let d = t.elapsed().as_secs_f64();
    assert!(o.status.success(), "python_check.py: {}", String::from_utf8_lossy(&o.stderr));
    d
}

fn collect_py(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_none_or(|n| n != "__pycache__") {
                collect_py(root, &p, out);
            }
        } else if p.extension().is_some_and(|x| x == "py") {
            out.push(teleforge_instrument::discover::relative(root, &p));
        }
    }
}

fn validate_python(label: &str, src: &Path, work: &Path, samples: usize) -> Validation {
    let out = work.join("py-out");
    eprintln!("[bench] 2. {label}: warm-up instrument + plain pass");
    instrument_once(src, &out);
    plain_python(&out);
    let (mut v, mut p, mut w, mut runs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut c1, mut c2, mut p0) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    let mut note = String::new();
    for i in 0..samples {
        eprintln!("[bench] 2. {label}: sample {}/{samples}", i + 1);
        p0.push(plain_python(src).0);
        let (s, wall) = instrument_once(src, &out);
        let (plain, n) = plain_python(&out);
        c1.push(python_check(&out, true));
        c2.push(python_check(&out, false));
        v.push(s.validation_seconds);
        runs.push(s.compiler_runs);
        w.push(wall);
        p.push(plain);
        note = format!("files compiled, with errors: {n}");
        last = Some(s);
    }
    Validation {
        extra: vec![
            ("python_check.py, compile only (python3 -S)".into(), median_f(c1)),
            ("python_check.py as the validator runs it (compile + pyflakes if importable)".into(), median_f(c2)),
        ],
        label: label.to_string(),
        regime: "(no build cache)",
        summary: last.unwrap(),
        runs,
        validation: median_f(v),
        plain: median_f(p),
        plain_original: median_f(p0),
        instrument_wall: median_f(w),
        plain_note: note,
    }
}

/// Two regimes. "warm": as asked, one untimed warm-up of both, then everything the go command
/// needs is in its cache (same paths, same contents). "module cold": the std library and the
/// dependencies are cached but none of the module's own packages: each sample instruments a fresh
/// copy at a new path (the go command keys compiled packages on their folder), so the baseline,
/// every round, and the plain pass all compile the module's packages.
fn validate_go(label: &str, src: &Path, work: &Path, samples: usize) -> Vec<Validation> {
    let out = work.join("go-out");
    eprintln!("[bench] 2. {label}: warm-up (first build of std and dependencies into the temp GOCACHE)");
    let t = Instant::now();
    let (first, first_note) = plain_go(src);
    eprintln!(
        "[bench]    first go build of the original: {first:.1} s ({first_note}); total {:.1} s",
        t.elapsed().as_secs_f64()
    );
    instrument_once(src, &out);
    plain_go(&out);
    let mut result = Vec::new();
    for regime in ["warm", "module cold"] {
        let (mut v, mut p, mut w, mut runs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut p0 = Vec::new();
        let mut last = None;
        let mut note = String::new();
        for i in 0..samples {
            eprintln!("[bench] 2. {label} ({regime}): sample {}/{samples}", i + 1);
            // The validator compiles with -gcflags=-e, so these plain builds of the original never
            // serve its baseline from the cache.
            let (s, wall, plain, n) = if regime == "warm" {
                p0.push(plain_go(src).0);
                let (s, wall) = instrument_once(src, &out);
                let (plain, n) = plain_go(&out);
                (s, wall, plain, n)
            } else {
                let dir = work.join(format!("go-cold-{i}"));
                copy_dir(src, &dir.join("src"), &|_| true);
                p0.push(plain_go(&dir.join("src")).0);
                let (s, wall) = instrument_once(&dir.join("src"), &dir.join("out"));
                let (plain, n) = plain_go(&dir.join("out"));
                let _ = std::fs::remove_dir_all(&dir);
                (s, wall, plain, n)
            };
            v.push(s.validation_seconds);
            runs.push(s.compiler_runs);
            w.push(wall);
            p.push(plain);
            note = n;
            last = Some(s);
        }
        result.push(Validation {
            extra: Vec::new(),
            label: label.to_string(),
            regime,
            summary: last.unwrap(),
            runs,
            validation: median_f(v),
            plain: median_f(p),
            plain_original: median_f(p0),
            instrument_wall: median_f(w),
            plain_note: note,
        });
    }
    result
}

fn print_validation(rows: &[Validation]) {
    println!("\n2. validation vs one plain compiler pass over the instrumented output tree");
    println!(
        "{:<34} {:<18} {:>5} {:>9} {:>8} {:>14} {:>8} {:>12} {:>15} {:>13}",
        "tree",
        "regime",
        "runs",
        "valid. s",
        "plain s",
        "v/(runs×plain)",
        "v/plain",
        "plain orig s",
        "v/(orig+plain)",
        "instrument s"
    );
    for r in rows {
        let runs = r.summary.compiler_runs;
        println!(
            "{:<34} {:<18} {:>5} {:>9.2} {:>8.2} {:>13.2}x {:>7.2}x {:>12.2} {:>14.2}x {:>13.2}",
            r.label,
            r.regime,
            runs,
            r.validation,
            r.plain,
            r.validation / (runs as f64 * r.plain),
            r.validation / r.plain,
            r.plain_original,
            r.validation / (r.plain_original + r.plain),
            r.instrument_wall
        );
    }
    println!(
        "target: ≤ {TARGET_VALIDATION}× one plain pass per round (v/(runs×plain)). valid. s = summary.validation_seconds \
         (toolchain processes only: baseline + every round); plain = wall time of one process over the output; \
         plain orig = the same over the original tree (what the baseline check compiles), so v/(orig+plain) compares \
         baseline + one round with two plain passes; instrument s = whole instrument() call (discovery, go list, \
         rendering, writing the copy)."
    );
    for r in rows {
        let runs_list: Vec<String> = r.runs.iter().map(|n| n.to_string()).collect();
        println!(
            "  {} / {}: runs per sample [{}]; plain pass: {}",
            r.label,
            r.regime,
            runs_list.join(","),
            r.plain_note
        );
        for (what, secs) in &r.extra {
            println!("    one process over the whole output: {what}: {secs:.2} s ({:.2}x plain)", secs / r.plain);
        }
    }

    println!("\n3. compiler runs vs one run per construct");
    println!(
        "{:<34} {:<18} {:>10} {:>12} {:>9} {:>9} {:>6} {:>12}",
        "tree", "regime", "found", "instrumented", "left out", "attempts", "runs", "runs/constr."
    );
    for r in rows {
        let s = &r.summary;
        println!(
            "{:<34} {:<18} {:>10} {:>12} {:>9} {:>9} {:>6} {:>12.5}",
            r.label,
            r.regime,
            s.constructs_found,
            s.constructs_instrumented,
            s.left_out.len(),
            s.attempts,
            s.compiler_runs,
            s.compiler_runs as f64 / s.constructs_found.max(1) as f64
        );
    }
    println!("baseline 'one run per construct' = found.");
    let mut seen = std::collections::BTreeSet::new();
    for r in rows {
        let s = &r.summary;
        if !seen.insert(r.label.clone()) {
            continue;
        }
        println!(
            "  {}: files seen {}, instrumented {}, skipped {:?}",
            r.label, s.files_seen, s.files_instrumented, s.files_skipped
        );
        if s.left_out.is_empty() {
            continue;
        }
        let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
        for l in &s.left_out {
            *by_reason.entry(reason_template(&l.reason)).or_insert(0) += 1;
        }
        let mut by_reason: Vec<(String, usize)> = by_reason.into_iter().collect();
        by_reason.sort_by_key(|r| std::cmp::Reverse(r.1));
        let files: std::collections::BTreeSet<&str> = s.left_out.iter().map(|l| l.file.as_str()).collect();
        println!("    left out {} in {} files; by reason:", s.left_out.len(), files.len());
        for (reason, n) in by_reason.iter().take(6) {
            println!("      {n:>5}  {}", clip(reason, 150));
        }
        println!("    first ones:");
        for l in s.left_out.iter().take(4) {
            println!(
                "      {}:{} {} {}: {}",
                l.file,
                l.line,
                l.construct_type,
                l.function,
                clip(&l.reason.replace('\n', " | "), 200)
            );
        }
    }
}

/// A reason without its location and with numbers and quoted text masked, to group like ones.
fn reason_template(reason: &str) -> String {
    let first = reason.lines().next().unwrap_or("");
    let msg = match first.find(".go:").or_else(|| first.find(".py:")) {
        Some(i) => first[i + 4..].splitn(3, ':').last().unwrap_or(first).trim().to_string(),
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
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

// ---------------------------------------------------------------------------------------------
// Trees

fn go_output(args: &[&str]) -> String {
    let out = Command::new("go").args(args).output().expect("go on PATH");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `go mod download -json path@version` into the temp GOMODCACHE; a writable copy of the module.
fn download_go_module(module: &str, work: &Path) -> PathBuf {
    let out = Command::new("go").args(["mod", "download", "-json", module]).output().expect("go on PATH");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("go mod download {module}: {e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    let dir = PathBuf::from(json["Dir"].as_str().unwrap_or_else(|| panic!("go mod download {module}: {json}")));
    let dest = work.join("go-src");
    copy_dir(&dir, &dest, &|_| true);
    dest
}

/// A few packages of the standard library, and its top-level `*.py` files if asked.
fn copy_python_subset(stdlib: &Path, dest: &Path, top_level: bool) {
    std::fs::create_dir_all(dest).unwrap();
    for e in std::fs::read_dir(stdlib).unwrap().flatten() {
        let p = e.path();
        if top_level && p.is_file() && p.extension().is_some_and(|x| x == "py") {
            copy_file(&p, &dest.join(e.file_name()));
        }
    }
    for pkg in PY_SUBSET_PACKAGES {
        copy_dir(&stdlib.join(pkg), &dest.join(pkg), &|p| p.file_name().is_none_or(|n| n != "__pycache__"));
    }
}

fn copy_file(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
    let mut perm = std::fs::metadata(to).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(to, perm).unwrap();
}

fn copy_dir(from: &Path, to: &Path, keep: &dyn Fn(&Path) -> bool) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if !keep(&p) {
            continue;
        }
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            copy_dir(&p, &to.join(e.file_name()), keep);
        } else if ty.is_file() {
            copy_file(&p, &to.join(e.file_name()));
        }
    }
}

// ---------------------------------------------------------------------------------------------

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
