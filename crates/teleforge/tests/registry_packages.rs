//! `teleforge instrument` on real packages downloaded at pinned versions from the Go module proxy,
//! PyPI and npm: each package's own test suite must still pass on the instrumented copy, with
//! telemetry off and on, and telemetry on must write events.
//!
//! These tests download. A download that fails makes the test fail in CI (`CI` set) and skip,
//! with the reason printed, elsewhere. Timings and the instrumentation summary (with every
//! construct left out and why) go to stderr: run with `-- --nocapture` to see them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use serde_json::Value;

mod support;
use support::{files, have, text};

/// Go modules: (module, pinned version, floor of constructs instrumented, function-name prefix
/// expected in the events).
const GO_UUID: (&str, &str, u64, &str) = ("github.com/google/uuid", "v1.6.0", 100, "uuid.");
const GO_X_SYNC: (&str, &str, u64, &str) = ("golang.org/x/sync", "v0.10.0", 30, "errgroup.");
/// PyPI: six's sdist ships test_six.py (pytest).
const PY_SIX: (&str, &str) = ("six", "1.16.0");
/// pytest, installed into a temporary folder only when `python3 -m pytest` is missing.
const PYTEST_PIN: &str = "pytest==8.3.5";
/// npm: mime 1.x ships src/test.js, plain `assert` under node.
const NPM_MIME: (&str, &str) = ("mime", "1.6.0");

fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Something this test needs from outside (a download, a tool) is not there: fail in CI, skip
/// with the reason elsewhere.
fn unavailable<T>(what: &str, why: &str) -> Option<T> {
    assert!(!in_ci(), "{what} failed in CI, where the registries and toolchains must be reachable:\n{why}");
    eprintln!("skipping: {what} failed:\n{why}");
    None
}

/// Runs a download command: its output when it succeeded, else see [`unavailable`].
fn fetch(what: &str, cmd: &mut Command) -> Option<Output> {
    match cmd.output() {
        Ok(o) if o.status.success() => Some(o),
        Ok(o) => unavailable(what, &text(&o)),
        Err(e) => unavailable(what, &e.to_string()),
    }
}

/// Prints how long each step took.
struct Clock {
    label: &'static str,
    start: Instant,
    last: Instant,
}

impl Clock {
    fn new(label: &'static str) -> Clock {
        let now = Instant::now();
        Clock { label, start: now, last: now }
    }

    fn lap(&mut self, what: &str) {
        let now = Instant::now();
        eprintln!(
            "[{}] {what}: {:.2}s (total {:.2}s)",
            self.label,
            (now - self.last).as_secs_f64(),
            (now - self.start).as_secs_f64()
        );
        self.last = now;
    }
}

/// Copies a tree, every file and folder writable (the Go module cache is read-only).
fn copy_writable(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            copy_writable(&e.path(), &to.join(e.file_name()));
        } else if ty.is_file() {
            std::fs::write(to.join(e.file_name()), std::fs::read(e.path()).unwrap()).unwrap();
        }
    }
}

/// The one file in `dir` whose name ends with `suffix`.
fn the_file(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "expected one *{suffix} in {}: {found:?}", dir.display());
    found.into_iter().next().unwrap()
}

fn untar(archive: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let o = Command::new("tar").arg("-xzf").arg(archive).arg("-C").arg(into).output().unwrap();
    assert!(o.status.success(), "tar -xzf {}: {}", archive.display(), text(&o));
}

/// `teleforge instrument SRC --out TMP/out --json` with a fresh store; the summary. Exit 1 is
/// accepted only when constructs were left out (they are checked by [`check_summary`]).
fn instrument(tmp: &Path, src: &Path, ext: Option<&str>, envs: &[(&str, &str)]) -> (PathBuf, Value) {
    let out = tmp.join("out");
    let mut c = Command::new(env!("CARGO_BIN_EXE_teleforge"));
    c.arg("--storage-dir").arg(tmp.join("store")).arg("instrument").arg(src);
    if let Some(ext) = ext {
        c.args(["-e", ext]);
    }
    c.arg("--out").arg(&out).arg("--json").envs(envs.iter().copied());
    let before = files(src);
    let o = c.output().unwrap();
    assert_unchanged(&before, src, "teleforge instrument --out changed its INPUT tree");
    assert!(matches!(o.status.code(), Some(0 | 1)), "teleforge instrument failed ({:?}):\n{}", o.status, text(&o));
    let s: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("teleforge instrument --json printed no JSON ({e}):\n{}", text(&o)));
    if o.status.code() == Some(1) {
        assert!(!s["left_out"].as_array().unwrap().is_empty(), "exit 1 with nothing left out:\n{}", text(&o));
    }
    (out, s)
}

/// Panics, naming each changed file (and showing small ones before and after), when `dir` no
/// longer holds `before`.
fn assert_unchanged(before: &[(PathBuf, Vec<u8>)], dir: &Path, what: &str) {
    let after = files(dir);
    if after == before {
        return;
    }
    let old: BTreeMap<_, _> = before.iter().map(|(p, b)| (p, b)).collect();
    let new: BTreeMap<_, _> = after.iter().map(|(p, b)| (p, b)).collect();
    let mut report = String::new();
    for p in old.keys().chain(new.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (a, b) = (old.get(p), new.get(p));
        if a == b {
            continue;
        }
        report.push_str(&format!("--- {}\n", p.display()));
        for (side, bytes) in [("before", a), ("after", b)] {
            match bytes {
                None => report.push_str(&format!("  ({side}: absent)\n")),
                Some(b) if b.len() <= 2000 => {
                    report.push_str(&format!("  ({side}):\n{}\n", String::from_utf8_lossy(b)))
                }
                Some(b) => report.push_str(&format!("  ({side}: {} bytes)\n", b.len())),
            }
        }
    }
    panic!("{what} ({}):\n{report}", dir.display());
}

/// Prints the summary and every construct left out (grouped by reason); asserts something was
/// found, at most 5% was left out and at least `floor` constructs were instrumented.
fn check_summary(label: &str, s: &Value, floor: u64) {
    let found = s["constructs_found"].as_u64().unwrap();
    let instrumented = s["constructs_instrumented"].as_u64().unwrap();
    let left = s["left_out"].as_array().unwrap();
    eprintln!(
        "[{label}] files: {} seen, {} instrumented, skipped {}; constructs: {found} found, {instrumented} instrumented, {} left out; {} attempts, {} compiler runs, {:.2}s validating",
        s["files_seen"],
        s["files_instrumented"],
        s["files_skipped"],
        left.len(),
        s["attempts"],
        s["compiler_runs"],
        s["validation_seconds"].as_f64().unwrap_or(0.0)
    );
    let mut by_reason: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for l in left {
        by_reason.entry(l["reason"].as_str().unwrap_or("?")).or_default().push(format!(
            "{}:{} {} {}",
            l["file"].as_str().unwrap_or("?"),
            l["line"],
            l["construct_type"].as_str().unwrap_or("?"),
            l["function"].as_str().unwrap_or("?")
        ));
    }
    let mut report = String::new();
    for (reason, subjects) in &by_reason {
        report.push_str(&format!("  {} left out: {reason}\n", subjects.len()));
        for s in subjects.iter().take(10) {
            report.push_str(&format!("      {s}\n"));
        }
        if subjects.len() > 10 {
            report.push_str(&format!("      … and {} more\n", subjects.len() - 10));
        }
    }
    if !report.is_empty() {
        eprint!("[{label}] left out:\n{report}");
    }
    assert!(found > 0, "{label}: teleforge found no constructs: {s}");
    assert!(
        left.len() as u64 * 20 <= found,
        "{label}: {} of {found} constructs left out (more than 5%):\n{report}",
        left.len()
    );
    assert!(instrumented >= floor, "{label}: only {instrumented} constructs instrumented (floor {floor}): {s}");
}

/// Every line of the events file parses; some event names a function starting with `prefix`.
fn check_events(label: &str, path: &Path, prefix: &str) {
    let body = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{label}: no events file {} with TELEMETRY_FILE set: {e}", path.display()));
    let events: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{label}: bad event line ({e}): {l}")))
        .collect();
    assert!(!events.is_empty(), "{label}: the events file is empty");
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for e in &events {
        *kinds.entry(e["kind"].as_str().unwrap_or("?").to_string()).or_default() += 1;
    }
    let ours =
        events.iter().filter(|e| e["code.function.name"].as_str().is_some_and(|n| n.starts_with(prefix))).count();
    eprintln!("[{label}] {} events {kinds:?}; {ours} name a function starting with {prefix:?}", events.len());
    assert!(ours > 0, "{label}: no event names a function starting with {prefix:?}");
}

// ---------------------------------------------------------------------------------------------
// Go

/// The environment of every go command here, teleforge's included: no toolchain downloads, no
/// workspace from above the temporary folder.
const GO_ENV: [(&str, &str); 3] =
    [("GOFLAGS", "-mod=mod -buildvcs=false"), ("GOTOOLCHAIN", "local"), ("GOWORK", "off")];

fn go(dir: &Path) -> Command {
    let mut c = Command::new("go");
    c.current_dir(dir).envs(GO_ENV).env_remove("TELEMETRY_FILE");
    c
}

/// Runs the module's own tests (`go test -count=1 ./...`) in `dir`, leaving out the tests that
/// `skip` (a `go test -skip` pattern) names.
fn go_test(dir: &Path, events: Option<&Path>, skip: Option<&str>) -> Output {
    let mut c = go(dir);
    c.args(["test", "-count=1"]);
    if let Some(s) = skip {
        c.args(["-skip", s]);
    }
    c.arg("./...");
    if let Some(e) = events {
        c.env("TELEMETRY_FILE", e);
    }
    c.output().unwrap()
}

/// Downloads MODULE@VERSION into the default module cache (shared, so later runs are warm; a
/// fresh machine fills it), copies it, instruments the copy, runs its tests.
/// `skip_when_on`: tests left out with telemetry on only, each with its reason at the call.
fn go_module_passes_its_tests(
    (module, version, floor, prefix): (&str, &str, u64, &str),
    label: &'static str,
    skip_when_on: Option<&str>,
) {
    if !have("go") {
        return;
    }
    let mut clock = Clock::new(label);
    let tmp = tempfile::tempdir().unwrap();
    let Some(o) = fetch(
        &format!("go mod download {module}@{version}"),
        go(tmp.path()).args(["mod", "download", "-json", &format!("{module}@{version}")]),
    ) else {
        return;
    };
    let info: Value = serde_json::from_slice(&o.stdout).unwrap();
    let cached = PathBuf::from(info["Dir"].as_str().unwrap_or_else(|| panic!("no Dir in {info}")));
    let src = tmp.path().join("src");
    copy_writable(&cached, &src);
    clock.lap(&format!("download and copy {module}@{version}"));

    // Instrument first: `go test` under -mod=mod may rewrite the original's go.mod.
    let (out, s) = instrument(tmp.path(), &src, Some(".go"), &GO_ENV);
    clock.lap("teleforge instrument");
    assert_eq!(
        String::from_utf8_lossy(&std::fs::read(out.join("go.mod")).unwrap()),
        String::from_utf8_lossy(&std::fs::read(src.join("go.mod")).unwrap()),
        "{label}: the instrumented copy's go.mod differs from the original's"
    );

    let t = go_test(&src, None, None);
    assert!(t.status.success(), "{label}: the module's own tests fail WITHOUT teleforge:\n{}", text(&t));
    clock.lap("go test on the original");
    check_summary(label, &s, floor);

    let t = go_test(&out, None, None);
    assert!(t.status.success(), "{label}: go test fails on the instrumented copy (telemetry off):\n{}", text(&t));
    clock.lap("go test on the instrumented copy, telemetry off");
    let ev = tmp.path().join("events.jsonl");
    let t = go_test(&out, Some(&ev), skip_when_on);
    assert!(t.status.success(), "{label}: go test fails on the instrumented copy (telemetry on):\n{}", text(&t));
    clock.lap("go test on the instrumented copy, telemetry on");
    check_events(label, &ev, prefix);
}

/// google/uuid's go.mod has no `go` line, so the module's language version is go1.16.
#[test]
fn go_google_uuid_passes_its_own_tests_instrumented() {
    // TestVersion6 compares the times of consecutive NewV6 UUIDs, whose 4 lowest time bits are
    // overwritten by the version: a gap of g between two calls reads as "time reversed" with a
    // chance of about g / 409.6 µs. Recording events (about 50 µs a call here, mostly finding the
    // goroutine id) makes that 1 run in 7; it passes every time with telemetry off, which is run.
    go_module_passes_its_tests(GO_UUID, "go google/uuid", Some("^TestVersion6$"));
}

/// x/sync declares go 1.18; four packages, each gets its own runtime copy.
#[test]
fn go_x_sync_passes_its_own_tests_instrumented() {
    go_module_passes_its_tests(GO_X_SYNC, "go x/sync", None);
}

// ---------------------------------------------------------------------------------------------
// Python

fn pytest(dir: &Path, pythonpath: Option<&Path>, deselect: &[String], events: Option<&Path>) -> Output {
    let mut c = Command::new("python3");
    c.args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"])
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("TELEMETRY_FILE");
    for d in deselect {
        c.arg("--deselect").arg(d);
    }
    if let Some(p) = pythonpath {
        c.env("PYTHONPATH", p);
    }
    if let Some(e) = events {
        c.env("TELEMETRY_FILE", e);
    }
    c.output().unwrap()
}

/// The node ids in pytest's short summary (`FAILED id - message`, `ERROR id - message`).
fn failed_ids(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("FAILED ").or_else(|| l.strip_prefix("ERROR ")))
        .map(|l| l.split(" - ").next().unwrap().trim().to_string())
        .collect()
}

#[test]
fn pypi_six_passes_its_own_tests_instrumented() {
    let label = "python six";
    if !have("python3") || !have("tar") {
        return;
    }
    let (name, version) = PY_SIX;
    let mut clock = Clock::new(label);
    let tmp = tempfile::tempdir().unwrap();
    // pytest is not part of .ci/run: bring a pinned one into a temporary folder when missing.
    let have_pytest =
        Command::new("python3").args(["-m", "pytest", "--version"]).output().is_ok_and(|o| o.status.success());
    let pythonpath = if have_pytest {
        None
    } else {
        let lib = tmp.path().join("pylib");
        let Some(_) = fetch(
            &format!("pip install {PYTEST_PIN}"),
            Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
                .arg(&lib)
                .arg(PYTEST_PIN),
        ) else {
            return;
        };
        clock.lap(&format!("install {PYTEST_PIN}"));
        Some(lib)
    };
    let dl = tmp.path().join("dl");
    let Some(_) = fetch(
        &format!("pip download {name}=={version}"),
        Command::new("python3")
            .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"])
            .args(["--no-binary", ":all:", &format!("{name}=={version}"), "-d"])
            .arg(&dl),
    ) else {
        return;
    };
    untar(&the_file(&dl, ".tar.gz"), &tmp.path().join("x"));
    let src = tmp.path().join("x").join(format!("{name}-{version}"));
    clock.lap(&format!("download and extract the {name}=={version} sdist"));

    // Tests that fail on the original here (a module this Python was built without, such as
    // _dbm) are the machine's business: they are left out of the runs below, and printed.
    let base = pytest(&src, pythonpath.as_deref(), &[], None);
    let env_failures = match base.status.code() {
        Some(0) => Vec::new(),
        Some(1) => failed_ids(&base),
        _ => panic!("{label}: pytest cannot run the original's tests:\n{}", text(&base)),
    };
    assert!(
        base.status.success() || !env_failures.is_empty(),
        "{label}: pytest failed on the original but named no failed test:\n{}",
        text(&base)
    );
    if !env_failures.is_empty() {
        eprintln!("[{label}] failing WITHOUT teleforge on this machine, deselected below: {env_failures:?}");
    }
    clock.lap("pytest on the original");

    let (out, s) = instrument(tmp.path(), &src, Some(".py"), &[]);
    clock.lap("teleforge instrument");
    check_summary(label, &s, 80);

    let t = pytest(&out, pythonpath.as_deref(), &env_failures, None);
    assert!(t.status.success(), "{label}: pytest fails on the instrumented copy (telemetry off):\n{}", text(&t));
    clock.lap("pytest on the instrumented copy, telemetry off");
    let ev = tmp.path().join("events.jsonl");
    // Known and documented (docs/TELEMETRY.md, "Per-language notes"): with telemetry ON the
    // runtime's decorator adds one wrapper frame to instrumented calls, and six's test_reraise
    // asserts the exact shape of a traceback through six.reraise. With telemetry off (above) it
    // passes: the decorator then returns the function itself.
    let mut on_deselect = env_failures.clone();
    on_deselect.push("test_six.py::test_reraise".to_string());
    let t = pytest(&out, pythonpath.as_deref(), &on_deselect, Some(&ev));
    assert!(t.status.success(), "{label}: pytest fails on the instrumented copy (telemetry on):\n{}", text(&t));
    clock.lap("pytest on the instrumented copy, telemetry on");
    check_events(label, &ev, "six.");
}

// ---------------------------------------------------------------------------------------------
// JavaScript

fn node_test(dir: &Path, events: Option<&Path>) -> Output {
    let mut c = Command::new("node");
    c.arg("src/test.js").current_dir(dir).env_remove("TELEMETRY_FILE");
    if let Some(e) = events {
        c.env("TELEMETRY_FILE", e);
    }
    c.output().unwrap()
}

/// Ignored until JavaScript lands: the committed JavaScript discovery finds 0 constructs in mime
/// (four .js files seen, none instrumented), and validation of JavaScript is not built yet.
#[test]
fn npm_mime_passes_its_own_tests_instrumented() {
    let label = "javascript mime";
    if !have("node") || !have("npm") || !have("tar") {
        return;
    }
    let (name, version) = NPM_MIME;
    let mut clock = Clock::new(label);
    let tmp = tempfile::tempdir().unwrap();
    let dl = tmp.path().join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    let Some(_) = fetch(
        &format!("npm pack {name}@{version}"),
        Command::new("npm")
            .args(["pack", "--silent", &format!("{name}@{version}"), "--pack-destination"])
            .arg(&dl)
            .current_dir(tmp.path()),
    ) else {
        return;
    };
    untar(&the_file(&dl, ".tgz"), &tmp.path().join("x"));
    let src = tmp.path().join("x").join("package");
    clock.lap(&format!("download and extract {name}@{version}"));

    let t = node_test(&src, None);
    assert!(t.status.success(), "{label}: the package's own tests fail WITHOUT teleforge:\n{}", text(&t));
    clock.lap("node src/test.js on the original");

    let (out, s) = instrument(tmp.path(), &src, None, &[]);
    clock.lap("teleforge instrument");
    check_summary(label, &s, 5);

    let t = node_test(&out, None);
    assert!(t.status.success(), "{label}: tests fail on the instrumented copy (telemetry off):\n{}", text(&t));
    clock.lap("node src/test.js on the instrumented copy, telemetry off");
    let ev = tmp.path().join("events.jsonl");
    let t = node_test(&out, Some(&ev));
    assert!(t.status.success(), "{label}: tests fail on the instrumented copy (telemetry on):\n{}", text(&t));
    clock.lap("node src/test.js on the instrumented copy, telemetry on");
    check_events(label, &ev, "");
}
