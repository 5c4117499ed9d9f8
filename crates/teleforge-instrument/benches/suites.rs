//! Test-suite benchmark: issue 10's row "a package's own tests, telemetry on ≤ 2×". Every real
//! package the CLI tests instrument (`crates/teleforge/tests/registry_packages.rs`,
//! `instrument_typescript.rs`) runs its own tests three ways in the same run: the ORIGINAL tree,
//! the INSTRUMENTED tree with telemetry off, and the instrumented tree with `TELEMETRY_FILE` set.
//!
//! ```text
//! cargo bench -p teleforge-instrument --bench suites
//! TELEFORGE_BENCH_QUICK=1 cargo bench -p teleforge-instrument --bench suites
//! ```
//!
//! Only the suite's execution is timed, never a build:
//! - Go: `go test -c -o BIN ./PKG` once per package for the original and for the instrumented tree
//!   (untimed); a suite run is every test binary `BIN -test.count=1`, each in its package folder.
//! - Python: pytest 8.3.5 (installed once with `pip install --target` into the bench's cache),
//!   bytecode compiled first (`python3 -m compileall`, and one untimed pytest run that writes its
//!   assertion-rewritten test modules); a suite run is `python3 -m pytest -q -p no:cacheprovider`.
//! - JavaScript/TypeScript: the package's test command (`node src/test.js`; vitest 2.1.9 for
//!   @tanstack/query-core, installed once with npm into the bench's cache).
//!
//! Per case, an untimed warm-up runs every variant once (each must pass: a failure is reported as
//! FAIL with its output) and sets the repetitions: a sample runs the suite REPS times in a row,
//! enough for the original to take ≥ 0.5 s (quick: 0.3 s; at most 20, and at most what keeps the
//! telemetry-on sample near 4 s, quick: 2 s). Then SAMPLES rounds (default 3), each running the three variants one after
//! the other, the order rotating from round to round. Ratios are taken within a round, then the
//! median over the rounds: off / original (target ≤ 1.05: no observable change) and on / original
//! (target ≤ 2). Each telemetry-on suite run writes to a fresh events file; the table shows what
//! one run wrote (events, bytes, kinds), so a reader sees telemetry really was on.
//!
//! Packages: Go github.com/google/uuid v1.6.0 (TestVersion6 skipped in all three variants: it
//! flakes with telemetry on, see registry_packages.rs) and golang.org/x/sync v0.10.0 (4 packages),
//! PyPI six 1.16.0 (tests that fail on the original here, e.g. for want of _dbm, and test_reraise,
//! which checks a traceback's shape that the runtime's wrapper changes with telemetry on, are
//! deselected in all three variants), npm mime 1.6.0, npm @tanstack/query-core 5.59.0 (the three
//! vitest suites the CLI test runs: the others need a DOM or React). rxjs 7.8.1 is left out: its
//! npm tarball ships no tests (the CLI test runs a demo program of its own).
//!
//! Plus a program bundled here (not a registry package), in Go, Python and JavaScript: a recursive
//! sum over a linked list 10,000 nodes long (stack depth 10,000), the same number of calls at
//! depth 10 (per-event cost must not grow with depth), and a tight loop (FNV-1a over a byte
//! buffer: three sites per iteration, the loop and two assignments). Instrumented by the real
//! binary, run as Go tests (`go test -c`), `python3 test_deep.py` and `node test.js`; the size
//! comes from environment variables. When the instrumented copy cannot run at a depth (it fails
//! where the original passes), the row says FAIL and the case is run again at half the depth.
//!
//! Quick (`TELEFORGE_BENCH_QUICK=1`): uuid, six, mime and the bundled program at depth 10,000 and
//! its tight loop, at half the size. Environment: `TELEFORGE_BENCH_SAMPLES=N`, `TELEFORGE_BENCH_ONLY=substring` (of
//! the case label), `TELEFORGE_BIN`. The go command's module and build caches are the instrument
//! bench's (`target/tmp/instrument-bench/`); pytest, six's sdist, typescript and vitest live in
//! `target/tmp/suites-bench/`. Progress on stderr, tables on stdout; nothing asserts on time.

mod trees;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use trees::{command_output, copy_dir, download_go_module_as, loadavg, npm_pack_as, teleforge_release_binary, Cleanup};

const TARGET_OFF: f64 = 1.05;
const TARGET_ON: f64 = 2.0;
const TARGET_DEPTH: f64 = 1.25;
/// A sample runs the suite until the original has taken this long (full, quick)...
const MIN_SAMPLE_SECONDS: (f64, f64) = (0.5, 0.3);
/// ... unless the telemetry-on runs would take longer than this (full, quick).
const MAX_ON_SAMPLE_SECONDS: (f64, f64) = (4.0, 2.0);
const MAX_REPS: usize = 20;
const GO_UUID: &str = "github.com/google/uuid@v1.6.0";
const GO_X_SYNC: &str = "golang.org/x/sync@v0.10.0";
const PY_SIX: (&str, &str) = ("six", "1.16.0");
const PYTEST_PIN: &str = "pytest==8.3.5";
const NPM_MIME: &str = "mime@1.6.0";
const NPM_TANSTACK: &str = "@tanstack/query-core@5.59.0";
const VITEST: &str = "vitest@2.1.9";
const TANSTACK_SUITES: [&str; 3] = [
    "src/__tests__/infiniteQueryObserver.test.tsx",
    "src/__tests__/notifyManager.test.tsx",
    "src/__tests__/utils.test.tsx",
];
/// A suite that takes longer than this on the original is left out (with the reason printed).
const MAX_SUITE_SECONDS: f64 = 120.0;
/// How a case's description starts when teleforge instrumented nothing in it.
const NOTHING: &str = "NOTHING INSTRUMENTED";

// ---------------------------------------------------------------------------------------------
// The bundled program

const GO_MOD: &str = "module example.com/deep\n\ngo 1.21\n";

const GO_DEEP: &str = r#"// Package deep: a recursion as deep as a list is long, and a tight loop.
package deep

type Node struct {
	Val  int
	Next *Node
}

// Build makes a list of n nodes.
func Build(n int) *Node {
	var head *Node
	for i := 0; i < n; i++ {
		head = &Node{Val: i, Next: head}
	}
	return head
}

// Sum adds the values recursively: one call per node, the stack as deep as the list is long.
func Sum(n *Node) int {
	if n == nil {
		return 0
	}
	return n.Val + Sum(n.Next)
}

// Checksum is FNV-1a over data: a tight loop.
func Checksum(data []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range data {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}
"#;

const GO_DEEP_TEST: &str = r#"package deep

import (
	"os"
	"strconv"
	"testing"
)

func env(name string) int {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil || n <= 0 {
		panic(name + " must be a positive number")
	}
	return n
}

func TestRecursion(t *testing.T) {
	depth, calls := env("DEEP_DEPTH"), env("DEEP_CALLS")
	list := Build(depth)
	want := depth * (depth - 1) / 2
	for r := 0; r < calls/depth; r++ {
		if got := Sum(list); got != want {
			t.Fatalf("Sum = %d, want %d", got, want)
		}
	}
}

func TestTightLoop(t *testing.T) {
	data := make([]byte, env("LOOP_BYTES"))
	for i := range data {
		data[i] = byte(i * 7)
	}
	var h uint64
	for r := 0; r < env("LOOP_REPS"); r++ {
		h += uint64(Checksum(data))
	}
	if h == 0 {
		t.Fatal("zero checksum")
	}
}
"#;

const PY_DEEP: &str = r#""""A recursion as deep as a list is long, and a tight loop."""


class Node:
    __slots__ = ("val", "next")

    def __init__(self, val, nxt):
        self.val = val
        self.next = nxt


def build(n):
    head = None
    for i in range(n):
        head = Node(i, head)
    return head


def total(node):
    """Adds the values recursively: one call per node, the stack as deep as the list is long."""
    if node is None:
        return 0
    return node.val + total(node.next)


def checksum(data):
    """FNV-1a over data: a tight loop."""
    h = 2166136261
    for c in data:
        h ^= c
        h = (h * 16777619) & 0xFFFFFFFF
    return h
"#;

/// The driver (a test file by name: teleforge leaves it alone).
const PY_DEEP_TEST: &str = r#"import os
import sys

import deep

sys.setrecursionlimit(200000)


def recursion():
    depth, calls = int(os.environ["DEEP_DEPTH"]), int(os.environ["DEEP_CALLS"])
    lst = deep.build(depth)
    for _ in range(calls // depth):
        assert deep.total(lst) == depth * (depth - 1) // 2


def tight_loop():
    data = bytes((i * 7) & 0xFF for i in range(int(os.environ["LOOP_BYTES"])))
    h = 0
    for _ in range(int(os.environ["LOOP_REPS"])):
        h += deep.checksum(data)
    assert h != 0


if __name__ == "__main__":
    {"recursion": recursion, "tight_loop": tight_loop}[sys.argv[1]]()
"#;

const JS_DEEP: &str = r#"'use strict';
// A recursion as deep as a list is long, and a tight loop.

function build(n) {
  let head = null;
  for (let i = 0; i < n; i++) {
    head = { val: i, next: head };
  }
  return head;
}

// Adds the values recursively: one call per node, the stack as deep as the list is long.
function total(node) {
  if (node === null) return 0;
  return node.val + total(node.next);
}

// FNV-1a over data: a tight loop.
function checksum(data) {
  let h = 2166136261;
  for (let i = 0; i < data.length; i++) {
    h ^= data[i];
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h;
}

module.exports = { build, total, checksum };
"#;

/// The driver (a test file by name: teleforge leaves it alone).
const JS_DEEP_TEST: &str = r#"'use strict';
const assert = require('assert');
const { build, total, checksum } = require('./deep.js');
const env = (k) => Number(process.env[k]);

if (process.argv[2] === 'recursion') {
  const depth = env('DEEP_DEPTH');
  const list = build(depth);
  for (let r = 0; r < Math.floor(env('DEEP_CALLS') / depth); r++) {
    assert.strictEqual(total(list), (depth * (depth - 1)) / 2);
  }
} else {
  const data = new Uint8Array(env('LOOP_BYTES'));
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  let h = 0;
  for (let r = 0; r < env('LOOP_REPS'); r++) h += checksum(data);
  assert.notStrictEqual(h, 0);
}
"#;

/// Calls of the recursion and iterations of the tight loop per run, by language (each original
/// run takes a few hundredths to a few tenths of a second here).
/// Quick: half of each.
fn synthetic_size(lang: &str) -> (usize, usize) {
    let (calls, iterations) = match lang {
        "go" => (20_000_000, 10_000_000),
        "python" => (1_000_000, 1_000_000),
        _ => (5_000_000, 5_000_000),
    };
    if is_quick() {
        (calls / 2, iterations / 2)
    } else {
        (calls, iterations)
    }
}

fn is_quick() -> bool {
    std::env::var("TELEFORGE_BENCH_QUICK").is_ok_and(|v| v == "1")
}

// ---------------------------------------------------------------------------------------------
// Cases

/// One process of a suite run.
#[derive(Clone)]
struct Cmd {
    program: String,
    args: Vec<String>,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Cmd {
    fn new(program: &str, args: &[&str], dir: &Path) -> Cmd {
        Cmd {
            program: program.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            dir: dir.to_path_buf(),
            env: vec![],
        }
    }

    fn env(mut self, k: &str, v: &str) -> Cmd {
        self.env.push((k.into(), v.into()));
        self
    }

    /// `cd DIR && K=V program args` with paths under the work dir shortened to `$W`.
    fn show(&self, work: &Path) -> String {
        let w = work.to_string_lossy();
        let short = |s: &str| s.replace(w.as_ref(), "$W");
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={}", short(v))).collect();
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| if a.contains(' ') || a.contains('^') { format!("'{}'", short(a)) } else { short(a) })
            .collect();
        format!(
            "cd {} && {}{}{} {}",
            short(&self.dir.to_string_lossy()),
            env.join(" "),
            if env.is_empty() { "" } else { " " },
            short(&self.program),
            args.join(" ")
        )
    }
}

#[derive(Clone)]
struct Case {
    label: String,
    lang: &'static str,
    /// What the instrumented tree holds (constructs instrumented, files).
    instrumented: String,
    original: Vec<Cmd>,
    instrumented_cmds: Vec<Cmd>,
    /// The bundled program's recursion: (depth, a constructor at another depth).
    depth: Option<usize>,
    note: String,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Variant {
    Original,
    Off,
    On,
}

const VARIANTS: [Variant; 3] = [Variant::Original, Variant::Off, Variant::On];

struct RunResult {
    wall: f64,
    cpu: f64,
    ok: bool,
    output: String,
}

#[derive(Default, Clone)]
struct Events {
    lines: usize,
    bytes: u64,
    kinds: BTreeMap<String, usize>,
    /// Loop sites: the highest `iteration` seen, i.e. how often the site ran in the last process.
    loop_max: BTreeMap<String, u64>,
}

struct Measured {
    case: Case,
    reps: usize,
    original: f64,
    off: f64,
    on: f64,
    cpu: [f64; 3],
    off_ratio: f64,
    on_ratio: f64,
    cpu_off_ratio: f64,
    cpu_on_ratio: f64,
    off_ratios: Vec<f64>,
    on_ratios: Vec<f64>,
    events: Events,
    failure: Option<String>,
}

fn main() {
    let started = Instant::now();
    let quick = is_quick();
    let samples: usize =
        std::env::var("TELEFORGE_BENCH_SAMPLES").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(3);
    let only = std::env::var("TELEFORGE_BENCH_ONLY").unwrap_or_default();
    let work = tempfile::Builder::new().prefix("teleforge-suites-").tempdir().expect("creating a temp dir");
    let work = work.path().canonicalize().expect("temp dir").to_path_buf();
    let _cleanup = Cleanup(work.clone());
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let go_cache = tmp.join("instrument-bench");
    let cache = tmp.join("suites-bench");
    std::fs::create_dir_all(&cache).unwrap();
    eprintln!("[bench] work dir {}, caches in {} and {}", work.display(), go_cache.display(), cache.display());

    trees::go_caches_in(&go_cache, "-mod=mod -buildvcs=false");
    std::env::set_var("GOTOOLCHAIN", "local");
    std::env::set_var("GOWORK", "off");
    std::env::remove_var("PYTHONDONTWRITEBYTECODE");
    for k in ["TELEMETRY_FILE", "TELEMETRY_SAMPLE_FIRST", "PYTHONPATH", "NODE_OPTIONS"] {
        std::env::remove_var(k);
    }

    let bin = teleforge_release_binary();
    let load_start = loadavg();
    let versions = format!(
        "{}; {}; node {}",
        command_output("python3", &["--version"]).trim(),
        command_output("go", &["version"]).trim(),
        command_output("node", &["--version"]).trim()
    );
    let wanted = |label: &str| only.is_empty() || label.to_lowercase().contains(&only.to_lowercase());
    let mut skipped: Vec<String> = Vec::new();
    let mut cases: Vec<Case> = Vec::new();
    let mut prep = Prep { bin: bin.clone(), work: work.clone(), cache: cache.clone(), setup: Vec::new() };

    if wanted("go github.com/google/uuid") {
        cases.push(prep.go_module(GO_UUID, "uuid", &["-test.skip", "^TestVersion6$"]));
    }
    if !quick && wanted("go golang.org/x/sync") {
        cases.push(prep.go_module(GO_X_SYNC, "x-sync", &[]));
    }
    if wanted("python six") {
        cases.push(prep.python_six());
    }
    if wanted("npm mime") {
        cases.push(prep.npm_mime());
    }
    if !quick && wanted("npm @tanstack/query-core") {
        cases.push(prep.tanstack());
    }
    skipped.push(
        "npm rxjs 7.8.1: its npm tarball ships no tests (the CLI test type-checks it and runs a demo program \
         of its own), so there is no suite of its own to time"
            .into(),
    );
    if quick {
        skipped.push(format!(
            "quick: {GO_X_SYNC} (its semaphore tests sleep ~5.5 s a run), {NPM_TANSTACK}, depth-10 rows"
        ));
    }
    for lang in ["go", "python", "javascript"] {
        let (calls, iters) = synthetic_size(lang);
        let dirs = synth_dirs(&work, lang);
        let mut these: Vec<Case> = Vec::new();
        for depth in [10_000usize, 10] {
            if !(quick && depth == 10) {
                these.push(synthetic_case(lang, &dirs, "recursion", depth, calls));
            }
        }
        these.push(synthetic_case(lang, &dirs, "tight loop", 0, iters));
        these.retain(|c| wanted(&c.label));
        if !these.is_empty() {
            prep.synthetic(lang);
            // Again, now that the instrumented summary is there.
            for c in these {
                cases.push(synthetic_case(
                    lang,
                    &dirs,
                    if c.depth.is_some() { "recursion" } else { "tight loop" },
                    c.depth.unwrap_or(0),
                    if c.depth.is_some() { calls } else { iters },
                ));
            }
        }
    }

    println!(
        "teleforge test-suite benchmark ({}; {versions}; {} cores; load average at start {load_start}; binary {})",
        if quick { "QUICK" } else { "full" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        bin.display()
    );

    let mut results: Vec<Measured> = Vec::new();
    let mut i = 0;
    while i < cases.len() {
        let case = cases[i].clone();
        i += 1;
        match measure(&case, &work, samples) {
            Ok(m) => results.push(m),
            Err(Skip::TooLong(secs)) => skipped.push(format!(
                "{}: its suite takes {secs:.0} s on the original (> {MAX_SUITE_SECONDS:.0} s)",
                case.label
            )),
            Err(Skip::Failed(m)) => {
                // The bundled recursion fails instrumented at this depth: run it again at half.
                if let (Some(depth), true) =
                    (m.case.depth, m.failure.as_deref().is_some_and(|f| !f.starts_with("original")))
                {
                    if depth >= 1000 {
                        let dirs = synth_dirs(&work, case.lang);
                        let (calls, _) = synthetic_size(case.lang);
                        let mut again = synthetic_case(case.lang, &dirs, "recursion", depth / 2, calls);
                        again.note = format!("run at half the depth: the instrumented copy fails at {depth}");
                        cases.insert(i, again);
                    }
                }
                results.push(m);
            }
        }
    }

    print_tables(&results, &skipped, &prep.setup, &work);
    let total = started.elapsed();
    println!("\ntotal runtime {:.1} s; load average at start {load_start}, at end {}", total.as_secs_f64(), loadavg());
    eprintln!("[bench] done in {:.1} s", total.as_secs_f64());
}

// ---------------------------------------------------------------------------------------------
// Preparing the trees (untimed)

struct Prep {
    bin: PathBuf,
    work: PathBuf,
    cache: PathBuf,
    /// Untimed preparation steps, with their durations, for the report.
    setup: Vec<String>,
}

impl Prep {
    fn step<T>(&mut self, what: String, f: impl FnOnce() -> T) -> T {
        eprintln!("[bench] {what}");
        let t = Instant::now();
        let r = f();
        self.setup.push(format!("{what}: {:.1} s", t.elapsed().as_secs_f64()));
        r
    }

    /// `teleforge --storage-dir STORE instrument SRC [ARGS] --json` (validated, as the CLI tests
    /// run it); a one-line description of the summary.
    fn instrument(&mut self, label: &str, src: &Path, args: &[&str]) -> String {
        let store = self.work.join("store").join(label.replace(['/', ' ', '@'], "-"));
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--storage-dir").arg(&store).arg("instrument").arg(src).args(args).arg("--json");
        let bin = self.bin.clone();
        let o = self.step(format!("{label}: teleforge instrument {} {}", src.display(), args.join(" ")), || {
            cmd.stderr(Stdio::piped()).output().expect("running teleforge")
        });
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{} instrument {} failed ({:?}): {}",
            bin.display(),
            src.display(),
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        let s: serde_json::Value = serde_json::from_slice(&o.stdout).expect("teleforge --json summary");
        if s["constructs_instrumented"].as_u64().unwrap_or(0) == 0 {
            // Reported as FAIL by measure(): timing an uninstrumented copy would say PASS for nothing.
            return format!(
                "{NOTHING} ({} found; first reason left out: {})",
                s["constructs_found"],
                s["left_out"][0]["reason"].as_str().unwrap_or("none given")
            );
        }
        format!(
            "{}/{} constructs, {} files",
            s["constructs_instrumented"], s["constructs_found"], s["files_instrumented"]
        )
    }

    /// Test binaries of every package with tests: `go test -c -o BIN ./PKG` in `root` (untimed);
    /// (binary, package folder) pairs.
    fn go_test_binaries(&mut self, label: &str, root: &Path, bins: &Path) -> Vec<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(bins).unwrap();
        let list = Command::new("go")
            .args(["list", "-f", "{{.Dir}}\t{{len .TestGoFiles}}\t{{len .XTestGoFiles}}", "./..."])
            .current_dir(root)
            .output()
            .expect("go list");
        assert!(list.status.success(), "go list in {}: {}", root.display(), String::from_utf8_lossy(&list.stderr));
        let mut out = Vec::new();
        for line in String::from_utf8_lossy(&list.stdout).lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 3 || (f[1] == "0" && f[2] == "0") {
                continue;
            }
            let dir = PathBuf::from(f[0]);
            let rel = dir.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let name = if rel.is_empty() { "root".to_string() } else { rel.replace('/', "-") };
            let bin = bins.join(format!("{name}.test"));
            let pkg = format!("./{rel}");
            let o = self.step(format!("{label}: go test -c -o {} {pkg}", bin.display()), || {
                Command::new("go")
                    .args(["test", "-c", "-o"])
                    .arg(&bin)
                    .arg(&pkg)
                    .current_dir(root)
                    .output()
                    .expect("go")
            });
            assert!(
                o.status.success(),
                "go test -c {pkg} in {}: {}",
                root.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            out.push((bin, dir));
        }
        out
    }

    fn go_module(&mut self, module: &str, name: &str, test_args: &[&str]) -> Case {
        let label = format!("Go {module}");
        let work = self.work.clone();
        let src = self.step(format!("go mod download {module}"), || download_go_module_as(module, &work, name));
        let out = self.work.join("trees").join(format!("{name}-instrumented"));
        let summary = self.instrument(&label, &src, &["-e", ".go", "--out", out.to_str().unwrap()]);
        let orig_bins = self.go_test_binaries(&label, &src, &self.work.join("bin").join(format!("{name}-original")));
        let inst_bins =
            self.go_test_binaries(&label, &out, &self.work.join("bin").join(format!("{name}-instrumented")));
        assert_eq!(orig_bins.len(), inst_bins.len(), "{label}: test packages differ");
        let cmds = |bins: &[(PathBuf, PathBuf)]| -> Vec<Cmd> {
            bins.iter()
                .map(|(b, d)| {
                    let mut args = vec!["-test.count=1"];
                    args.extend_from_slice(test_args);
                    Cmd::new(&b.to_string_lossy(), &args, d)
                })
                .collect()
        };
        Case {
            label,
            lang: "go",
            instrumented: format!("{summary}; {} test binaries", orig_bins.len()),
            original: cmds(&orig_bins),
            instrumented_cmds: cmds(&inst_bins),
            depth: None,
            note: if test_args.is_empty() { String::new() } else { format!("all variants: {}", test_args.join(" ")) },
        }
    }

    /// pytest, pinned, in the bench's cache (installed once).
    fn pytest_lib(&mut self) -> PathBuf {
        let lib = self.cache.join(format!("pylib-{}", PYTEST_PIN.replace("==", "-")));
        if !lib.join("pytest").exists() {
            let o = self.step(format!("pip install --target {} {PYTEST_PIN}", lib.display()), || {
                Command::new("python3")
                    .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
                    .arg(&lib)
                    .arg(PYTEST_PIN)
                    .output()
                    .expect("python3")
            });
            assert!(o.status.success(), "pip install {PYTEST_PIN}: {}", String::from_utf8_lossy(&o.stderr));
        }
        compileall(&lib);
        lib
    }

    fn python_six(&mut self) -> Case {
        let (name, version) = PY_SIX;
        let label = format!("Python {name} {version}");
        let lib = self.pytest_lib();
        let dl = self.cache.join(format!("{name}-{version}-sdist"));
        if !dl.exists() {
            let o = self.step(format!("pip download {name}=={version} (sdist)"), || {
                Command::new("python3")
                    .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"])
                    .args(["--no-binary", ":all:", &format!("{name}=={version}"), "-d"])
                    .arg(&dl)
                    .output()
                    .expect("python3")
            });
            assert!(o.status.success(), "pip download {name}: {}", String::from_utf8_lossy(&o.stderr));
        }
        let x = self.work.join("trees/six-x");
        std::fs::create_dir_all(&x).unwrap();
        let o = Command::new("tar")
            .arg("-xzf")
            .arg(dl.join(format!("{name}-{version}.tar.gz")))
            .arg("-C")
            .arg(&x)
            .output()
            .expect("tar");
        assert!(o.status.success(), "tar: {}", String::from_utf8_lossy(&o.stderr));
        let src = x.join(format!("{name}-{version}"));
        let out = self.work.join("trees/six-instrumented");
        let summary = self.instrument(&label, &src, &["-e", ".py", "--out", out.to_str().unwrap()]);
        let lib_s = lib.to_string_lossy().into_owned();
        let pytest = |dir: &Path, deselect: &[String]| {
            let mut args = vec!["-m", "pytest", "-q", "-p", "no:cacheprovider"];
            for d in deselect {
                args.push("--deselect");
                args.push(d);
            }
            Cmd::new("python3", &args, dir).env("PYTHONPATH", &lib_s)
        };
        // Tests failing on the original here (a module this Python lacks) are the machine's.
        let base = run(&pytest(&src, &[]).with_rf(), None);
        let mut deselect: Vec<String> = base
            .output
            .lines()
            .filter_map(|l| l.strip_prefix("FAILED ").or_else(|| l.strip_prefix("ERROR ")))
            .map(|l| l.split(" - ").next().unwrap().trim().to_string())
            .collect();
        deselect.push("test_six.py::test_reraise".into());
        for d in [&src, &out] {
            self.step(format!("{label}: python3 -m compileall {}", d.display()), || compileall(d));
        }
        Case {
            label,
            lang: "python",
            instrumented: summary,
            original: vec![pytest(&src, &deselect)],
            instrumented_cmds: vec![pytest(&out, &deselect)],
            depth: None,
            note: format!("deselected in all variants: {}", deselect.join(", ")),
        }
    }

    fn npm_mime(&mut self) -> Case {
        let label = format!("npm {NPM_MIME}");
        let work = self.work.clone();
        let src = self.step(format!("npm pack {NPM_MIME}"), || npm_pack_as(NPM_MIME, &work, "mime"));
        let out = self.work.join("trees/mime-instrumented");
        let summary = self.instrument(&label, &src, &["--out", out.to_str().unwrap()]);
        Case {
            label,
            lang: "javascript",
            instrumented: summary,
            original: vec![Cmd::new("node", &["src/test.js"], &src)],
            instrumented_cmds: vec![Cmd::new("node", &["src/test.js"], &out)],
            depth: None,
            note: String::new(),
        }
    }

    /// typescript@5 and vitest, in the bench's cache (installed once).
    fn ts_tools(&mut self) -> PathBuf {
        let dir = self.cache.join("ts-tools");
        if !dir.join("node_modules/vitest/vitest.mjs").exists() || !dir.join("node_modules/typescript").exists() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("package.json"), r#"{"name":"tf-ts","private":true}"#).unwrap();
            let o = self.step(format!("npm install typescript@5 {VITEST} (into {})", dir.display()), || {
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "typescript@5", VITEST])
                    .current_dir(&dir)
                    .output()
                    .expect("npm")
            });
            assert!(o.status.success(), "npm install: {}", String::from_utf8_lossy(&o.stderr));
        }
        dir
    }

    fn tanstack(&mut self) -> Case {
        let label = format!("npm {NPM_TANSTACK}");
        let tools = self.ts_tools();
        let work = self.work.clone();
        let scratch = self.work.join("ts");
        std::fs::create_dir_all(&scratch).unwrap();
        // The validator finds TypeScript by walking up from the tree: node_modules beside it.
        std::os::unix::fs::symlink(tools.join("node_modules"), scratch.join("node_modules")).unwrap();
        let packed = self.step(format!("npm pack {NPM_TANSTACK}"), || npm_pack_as(NPM_TANSTACK, &work, "tanstack"));
        let orig = scratch.join("original");
        let inst = scratch.join("instrumented");
        copy_dir(&packed, &orig, &|_| true);
        copy_dir(&packed, &inst, &|_| true);
        let summary = self.instrument(&label, &inst.join("src"), &["--in-place"]);
        let vitest = tools.join("node_modules/vitest/vitest.mjs").to_string_lossy().into_owned();
        let cmd = |dir: &Path| {
            let mut args = vec![vitest.as_str(), "run"];
            args.extend_from_slice(&TANSTACK_SUITES);
            Cmd::new("node", &args, dir).env("CI", "1").env("NO_COLOR", "1")
        };
        Case {
            label,
            lang: "typescript",
            instrumented: format!("{summary} (src/, in place)"),
            original: vec![cmd(&orig)],
            instrumented_cmds: vec![cmd(&inst)],
            depth: None,
            note: "the three vitest suites the CLI test runs (the others need a DOM or React)".into(),
        }
    }

    /// The bundled program, written and instrumented; Go test binaries built.
    fn synthetic(&mut self, lang: &'static str) -> SynthDirs {
        let d = synth_dirs(&self.work, lang);
        std::fs::create_dir_all(&d.src).unwrap();
        let files: &[(&str, &str)] = match lang {
            "go" => &[("go.mod", GO_MOD), ("deep.go", GO_DEEP), ("deep_test.go", GO_DEEP_TEST)],
            "python" => &[("deep.py", PY_DEEP), ("test_deep.py", PY_DEEP_TEST)],
            _ => &[("deep.js", JS_DEEP), ("test.js", JS_DEEP_TEST)],
        };
        for (name, text) in files {
            std::fs::write(d.src.join(name), text).unwrap();
        }
        let label = format!("bundled program ({lang})");
        let summary = self.instrument(&label, &d.src, &["--out", d.out.to_str().unwrap()]);
        if lang == "go" {
            for (root, bin) in [(&d.src, &d.orig_bin), (&d.out, &d.inst_bin)] {
                let o = self.step(format!("{label}: go test -c -o {} .", bin.display()), || {
                    Command::new("go")
                        .args(["test", "-c", "-o"])
                        .arg(bin)
                        .arg(".")
                        .current_dir(root)
                        .output()
                        .expect("go")
                });
                assert!(o.status.success(), "go test -c: {}", String::from_utf8_lossy(&o.stderr));
            }
        }
        if lang == "python" {
            compileall(&d.src);
            compileall(&d.out);
        }
        std::fs::write(d.src.join(".summary"), &summary).unwrap();
        d
    }
}

struct SynthDirs {
    src: PathBuf,
    out: PathBuf,
    orig_bin: PathBuf,
    inst_bin: PathBuf,
}

fn synth_dirs(work: &Path, lang: &str) -> SynthDirs {
    SynthDirs {
        src: work.join("synthetic").join(lang),
        out: work.join("synthetic").join(format!("{lang}-instrumented")),
        orig_bin: work.join("bin").join(format!("deep-{lang}-original.test")),
        inst_bin: work.join("bin").join(format!("deep-{lang}-instrumented.test")),
    }
}

/// A case of the bundled program: `what` is "recursion" (at `depth`, `n` calls) or "tight loop"
/// (`n` iterations over a 1 MiB buffer, or 64 KiB in Python).
fn synthetic_case(lang: &'static str, d: &SynthDirs, what: &str, depth: usize, n: usize) -> Case {
    let buf: usize = if lang == "python" { 1 << 16 } else { 1 << 20 };
    let vars: Vec<(String, String)> = if what == "recursion" {
        vec![("DEEP_DEPTH".into(), depth.to_string()), ("DEEP_CALLS".into(), n.to_string())]
    } else {
        vec![("LOOP_BYTES".into(), buf.to_string()), ("LOOP_REPS".into(), (n / buf).max(1).to_string())]
    };
    let cmd = |dir: &Path, bin: &Path| {
        let mut c = match lang {
            "go" => Cmd::new(
                &bin.to_string_lossy(),
                &[
                    "-test.count=1",
                    "-test.run",
                    if what == "recursion" { "^TestRecursion$" } else { "^TestTightLoop$" },
                ],
                dir,
            ),
            "python" => Cmd::new(
                "python3",
                &["test_deep.py", if what == "recursion" { "recursion" } else { "tight_loop" }],
                dir,
            ),
            _ => Cmd::new("node", &["test.js", if what == "recursion" { "recursion" } else { "loop" }], dir),
        };
        for (k, v) in &vars {
            c = c.env(k, v);
        }
        c
    };
    let summary = std::fs::read_to_string(d.src.join(".summary")).unwrap_or_default();
    let label = if what == "recursion" {
        format!("bundled {lang}: recursion, depth {depth}, {} calls", thousands(n))
    } else {
        format!("bundled {lang}: tight loop, {} iterations", thousands((n / buf).max(1) * buf))
    };
    Case {
        label,
        lang,
        instrumented: summary,
        original: vec![cmd(&d.src, &d.orig_bin)],
        instrumented_cmds: vec![cmd(&d.out, &d.inst_bin)],
        depth: if what == "recursion" { Some(depth) } else { None },
        note: String::new(),
    }
}

fn thousands(n: usize) -> String {
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

fn compileall(dir: &Path) {
    let o = Command::new("python3").args(["-m", "compileall", "-q"]).arg(dir).output().expect("python3");
    // compileall exits 1 when a file does not compile (a Python 2 fixture, say): not our business.
    let _ = o;
}

trait WithRf {
    fn with_rf(self) -> Self;
}

impl WithRf for Cmd {
    /// pytest's short summary of failures and errors (`-rfE`), to find the machine's failures.
    fn with_rf(mut self) -> Self {
        self.args.push("-rfE".into());
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Timing

fn children_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    s(u.ru_utime) + s(u.ru_stime)
}

/// Runs one process, telemetry on when `events` is given; wall and CPU seconds.
fn run(cmd: &Cmd, events: Option<&Path>) -> RunResult {
    let mut c = Command::new(&cmd.program);
    c.args(&cmd.args).current_dir(&cmd.dir).stdin(Stdio::null());
    for (k, v) in &cmd.env {
        c.env(k, v);
    }
    c.env_remove("TELEMETRY_FILE");
    if let Some(e) = events {
        c.env("TELEMETRY_FILE", e);
    }
    let before = children_cpu();
    let t = Instant::now();
    let o = c.output().unwrap_or_else(|e| panic!("starting {}: {e}", cmd.program));
    let wall = t.elapsed().as_secs_f64();
    RunResult {
        wall,
        cpu: children_cpu() - before,
        ok: o.status.success(),
        output: format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
    }
}

/// One run of the suite (every process of it), the variant's way; `events` is a fresh file.
fn run_suite(case: &Case, v: Variant, events: &Path) -> RunResult {
    let cmds = if v == Variant::Original { &case.original } else { &case.instrumented_cmds };
    let mut total = RunResult { wall: 0.0, cpu: 0.0, ok: true, output: String::new() };
    for c in cmds {
        let r = run(c, (v == Variant::On).then_some(events));
        total.wall += r.wall;
        total.cpu += r.cpu;
        if !r.ok {
            total.ok = false;
            total.output = format!("{}\n{}", c.show(Path::new("/nonexistent")), r.output);
            break;
        }
    }
    total
}

fn read_events(path: &Path) -> Events {
    let mut ev = Events::default();
    let Ok(body) = std::fs::read_to_string(path) else { return ev };
    ev.bytes = body.len() as u64;
    for line in body.lines() {
        ev.lines += 1;
        let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
            *ev.kinds.entry("(unparsable)".into()).or_default() += 1;
            continue;
        };
        let kind = e["kind"].as_str().unwrap_or("?").to_string();
        if kind == "loop_iter" {
            let site = format!(
                "{}:{}",
                e["code.file.path"].as_str().unwrap_or("?"),
                e["code.line.number"].as_u64().unwrap_or(0)
            );
            let n = e["iteration"].as_u64().unwrap_or(0);
            let m = ev.loop_max.entry(site).or_default();
            *m = (*m).max(n);
        }
        *ev.kinds.entry(kind).or_default() += 1;
    }
    ev
}

enum Skip {
    TooLong(f64),
    Failed(Measured),
}

fn measure(case: &Case, work: &Path, samples: usize) -> Result<Measured, Skip> {
    let label = &case.label;
    let evdir = work.join("events").join(label.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
    std::fs::create_dir_all(&evdir).unwrap();
    let mut seq = 0usize;
    let mut fresh = || {
        seq += 1;
        evdir.join(format!("{seq}.jsonl"))
    };
    let failed = |what: String| Measured {
        case: case.clone(),
        reps: 0,
        original: f64::NAN,
        off: f64::NAN,
        on: f64::NAN,
        cpu: [f64::NAN; 3],
        off_ratio: f64::NAN,
        on_ratio: f64::NAN,
        cpu_off_ratio: f64::NAN,
        cpu_on_ratio: f64::NAN,
        off_ratios: vec![],
        on_ratios: vec![],
        events: Events::default(),
        failure: Some(what),
    };
    if case.instrumented.starts_with(NOTHING) {
        return Err(Skip::Failed(failed(format!("teleforge instrumented nothing: {}", case.instrumented))));
    }
    // Warm-up: every variant once, each must pass.
    eprintln!("[bench] {label}: warm-up");
    let mut warm = [0.0f64; 3];
    for (k, v) in VARIANTS.iter().enumerate() {
        let r = run_suite(case, *v, &fresh());
        if !r.ok {
            let excerpt: Vec<&str> = r.output.lines().filter(|l| !l.trim().is_empty()).take(12).collect();
            let name = match v {
                Variant::Original => "original",
                Variant::Off => "instrumented, telemetry off",
                Variant::On => "instrumented, telemetry on",
            };
            eprintln!("[bench] {label}: {name} FAILS:\n{}", excerpt.join("\n"));
            return Err(Skip::Failed(failed(format!("{name} fails: {}", excerpt.join(" | ")))));
        }
        warm[k] = r.wall;
        if *v == Variant::Original && r.wall > MAX_SUITE_SECONDS {
            return Err(Skip::TooLong(r.wall));
        }
    }
    let pick = |(full, quick): (f64, f64)| if is_quick() { quick } else { full };
    let reps = ((pick(MIN_SAMPLE_SECONDS) / warm[0].max(1e-3)).ceil() as usize)
        .min((pick(MAX_ON_SAMPLE_SECONDS) / warm[2].max(1e-3)).floor() as usize)
        .clamp(1, MAX_REPS);
    eprintln!(
        "[bench] {label}: warm-up original {:.3} s, off {:.3} s, on {:.3} s → {reps} suite run(s) per sample",
        warm[0], warm[1], warm[2]
    );
    let (mut wall, mut cpu): ([Vec<f64>; 3], [Vec<f64>; 3]) = Default::default();
    let (mut off_r, mut on_r) = (vec![], vec![]);
    let mut events = Events::default();
    for s in 0..samples {
        let mut this = [0.0f64; 3];
        for j in 0..3 {
            let k = (s + j) % 3;
            let v = VARIANTS[k];
            let (mut w, mut c) = (0.0, 0.0);
            for _ in 0..reps {
                let ev = fresh();
                let r = run_suite(case, v, &ev);
                if !r.ok {
                    return Err(Skip::Failed(failed(format!("{v:?} failed in sample {}: {}", s + 1, r.output))));
                }
                w += r.wall;
                c += r.cpu;
                if v == Variant::On {
                    events = read_events(&ev);
                }
                let _ = std::fs::remove_file(&ev);
            }
            this[k] = w / reps as f64;
            wall[k].push(w / reps as f64);
            cpu[k].push(c / reps as f64);
        }
        off_r.push(this[1] / this[0]);
        on_r.push(this[2] / this[0]);
        eprintln!(
            "[bench] {label}: sample {}/{samples}: original {:.3} s, off {:.3} s, on {:.3} s per suite run (on/original {:.2})",
            s + 1,
            this[0],
            this[1],
            this[2],
            this[2] / this[0]
        );
    }
    if events.lines == 0 {
        return Err(Skip::Failed(failed("telemetry on wrote no events: nothing was recorded".into())));
    }
    let cpu_ratio = median(cpu[2].clone()) / median(cpu[0].clone());
    Ok(Measured {
        case: case.clone(),
        reps,
        original: median(wall[0].clone()),
        off: median(wall[1].clone()),
        on: median(wall[2].clone()),
        cpu: [median(cpu[0].clone()), median(cpu[1].clone()), median(cpu[2].clone())],
        off_ratio: median(off_r.clone()),
        on_ratio: median(on_r.clone()),
        cpu_off_ratio: median(cpu[1].clone()) / median(cpu[0].clone()),
        cpu_on_ratio: cpu_ratio,
        off_ratios: off_r,
        on_ratios: on_r,
        events,
        failure: None,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
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

fn print_tables(results: &[Measured], skipped: &[String], setup: &[String], work: &Path) {
    println!("\nA suite run, the original tree vs the instrumented tree with telemetry off and on (wall seconds per suite run, medians)");
    println!(
        "{:<52} {:>5} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}  {:<13} {:<13} {:>9} {:>8}",
        "case",
        "reps",
        "orig s",
        "off s",
        "on s",
        "off/orig",
        "on/orig",
        "cpu off/o",
        "cpu on/o",
        "off ≤1.05",
        "on ≤2",
        "events",
        "MB"
    );
    for m in results {
        if let Some(f) = &m.failure {
            println!("{:<52} FAIL: {}", m.case.label, f.chars().take(160).collect::<String>());
            continue;
        }
        println!(
            "{:<52} {:>5} {:>9.3} {:>9.3} {:>9.3} {:>7.2}x {:>7.2}x {:>8.2}x {:>7.2}x  {:<13} {:<13} {:>9} {:>8.2}",
            m.case.label,
            m.reps,
            m.original,
            m.off,
            m.on,
            m.off_ratio,
            m.on_ratio,
            m.cpu_off_ratio,
            m.cpu_on_ratio,
            verdict(m.off_ratio <= TARGET_OFF),
            verdict(m.on_ratio <= TARGET_ON),
            m.events.lines,
            m.events.bytes as f64 / 1e6
        );
    }
    println!(
        "reps = suite runs per sample (each variant); ratios = medians of the per-round ratios (variants adjacent, \
         order rotating); cpu off/o, on/o = user+system CPU of the processes (medians), off or on vs original; events/MB = what one \
         telemetry-on suite run wrote."
    );

    // Per-event cost and depth independence of the bundled program.
    let synth: Vec<&Measured> =
        results.iter().filter(|m| m.case.label.starts_with("bundled") && m.failure.is_none()).collect();
    if !synth.is_empty() {
        println!("\nBundled program: what telemetry costs per executed site (on − original, divided by the site executions of one run)");
        for m in &synth {
            let per = sites_per_run(m);
            if per > 0.0 {
                println!(
                    "  {:<52} {:>12} site executions a run: off {:>7.1} ns, on {:>8.1} ns each",
                    m.case.label,
                    thousands(per as usize),
                    (m.off - m.original) / per * 1e9,
                    (m.on - m.original) / per * 1e9
                );
            }
        }
        for lang in ["go", "python", "javascript"] {
            let find = |d: usize| synth.iter().find(|m| m.case.lang == lang && m.case.depth == Some(d)).copied();
            let deep = synth
                .iter()
                .filter(|m| m.case.lang == lang && m.case.depth.is_some_and(|d| d >= 1000))
                .max_by_key(|m| m.case.depth);
            if let (Some(deep), Some(shallow)) = (deep, find(10)) {
                let r = (deep.on - deep.original) / (shallow.on - shallow.original);
                println!(
                    "  {lang}: telemetry's cost at depth {} / at depth 10, same number of calls: {r:.2}x (target ≤ {TARGET_DEPTH}: {})",
                    deep.case.depth.unwrap(),
                    verdict(r <= TARGET_DEPTH)
                );
            }
        }
    }

    println!("\nWhat telemetry on wrote (one suite run; loop sites: the highest iteration counter, i.e. how often the site ran)");
    for m in results.iter().filter(|m| m.failure.is_none()) {
        let kinds: Vec<String> = m.events.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let mut loops: Vec<(&String, &u64)> = m.events.loop_max.iter().collect();
        loops.sort_by(|a, b| b.1.cmp(a.1));
        let loops: Vec<String> =
            loops.iter().take(3).map(|(s, n)| format!("{s} ×{}", thousands(**n as usize))).collect();
        println!(
            "  {}: {} events, {} bytes: {}{}",
            m.case.label,
            m.events.lines,
            m.events.bytes,
            kinds.join(", "),
            if loops.is_empty() { String::new() } else { format!("; hottest loops {}", loops.join(", ")) }
        );
    }

    println!("\nPer-round ratios, CPU seconds and commands ($W = the bench's work dir)");
    for m in results {
        println!(
            "  {} [{}]{}",
            m.case.label,
            m.case.instrumented,
            if m.case.note.is_empty() { String::new() } else { format!("; {}", m.case.note) }
        );
        if m.failure.is_none() {
            let f = |v: &[f64]| v.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(", ");
            println!(
                "    off/orig [{}], on/orig [{}]; cpu s original {:.3}, off {:.3}, on {:.3}",
                f(&m.off_ratios),
                f(&m.on_ratios),
                m.cpu[0],
                m.cpu[1],
                m.cpu[2]
            );
        }
        for c in &m.case.original {
            println!("    original:     {}", c.show(work));
        }
        for c in &m.case.instrumented_cmds {
            println!("    instrumented: {}   (on: TELEMETRY_FILE=$W/events/…/N.jsonl)", c.show(work));
        }
    }
    if !skipped.is_empty() {
        println!("\nLeft out");
        for s in skipped {
            println!("  {s}");
        }
    }
    println!("\nUntimed preparation");
    for s in setup {
        println!("  {}", s.replace(work.to_string_lossy().as_ref(), "$W"));
    }
}

/// Site executions in one run of the bundled program: calls (entry + exit) for the recursion,
/// three sites per iteration for the tight loop.
fn sites_per_run(m: &Measured) -> f64 {
    let env = |k: &str| {
        m.case.original[0].env.iter().find(|(n, _)| n == k).and_then(|(_, v)| v.parse::<f64>().ok()).unwrap_or(0.0)
    };
    if m.case.depth.is_some() {
        let depth = env("DEEP_DEPTH");
        let calls = (env("DEEP_CALLS") / depth).floor() * depth;
        calls * 2.0
    } else {
        env("LOOP_BYTES") * env("LOOP_REPS") * 3.0
    }
}
