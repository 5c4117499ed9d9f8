//! `teleforge instrument` and `strip` on real TypeScript trees, validated by the project's own
//! TypeScript compiler (installed from npm into a temp folder), compiled with `tsc` and run with
//! node: a strict ES module project (`strict`, `noUnusedLocals`, `noImplicitAny`,
//! `exactOptionalPropertyTypes`, `verbatimModuleSyntax`, `isolatedModules`, ...) with the
//! JavaScript tricky cases adapted, a `.tsx` React-like file and a `.jsx` file, and a CommonJS
//! project (`import x = require`, `export =`, a `.cts` file) under `verbatimModuleSyntax`.
//! Instrumented code must type-check first time, keep every declaration `tsc` emits (so no
//! inferred type changed), print what the original prints with telemetry off and on, keep line
//! numbers, strip back to the original bytes, and be left alone when instrumented again.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{
    assert_marked_lines_kept, assert_strip_and_idempotence, copy, events, files, have, instrument, node_modules_with,
    node_run, scratch_with_node_modules as scratch, text, tf, tsc,
};

/// The TypeScript compiler and vitest (for a package's own tests), installed once per test
/// process.
fn typescript() -> Option<&'static Path> {
    node_modules_with(&["typescript@5", "vitest@2.1.9"])
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/typescript").join(name)
}

fn assert_clean_first_round(s: &Value) {
    assert_eq!(s["left_out"].as_array().unwrap().len(), 0, "{s}");
    assert_eq!(s["constructs_instrumented"], s["constructs_found"], "{s}");
    assert_eq!(s["first_attempt_successes"], s["constructs_instrumented"], "{s}");
    // The original tree's compile (which files the compiler covers; it doubles as the baseline) and
    // one round.
    assert_eq!(s["compiler_runs"], 2, "{s}");
    assert_eq!(s["runtime_files"], serde_json::json!(["_teleforge_tel.cjs", "_teleforge_tel.d.cts"]), "{s}");
}

fn is_source(name: &str) -> bool {
    [".ts", ".tsx", ".mts", ".cts", ".jsx"].iter().any(|e| name.ends_with(e))
}

/// Every source file keeps its lines (see [`support::assert_marked_lines_kept`]).
fn assert_lines_kept(src: &Path, out: &Path) -> usize {
    assert_marked_lines_kept(src, out, is_source)
}

/// The declaration files `tsc` emitted for a project (`dist/*.d.ts`), by name.
fn declarations(project: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files(&project.join("dist")).into_iter().filter(|(p, _)| p.to_string_lossy().ends_with(".d.ts")).collect()
}

fn find<'a>(evs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    evs.iter().find(|e| e["kind"] == kind && e["code.function.name"] == name)
}

fn line_of(file: &Path, needle: &str) -> u64 {
    let t = std::fs::read_to_string(file).unwrap();
    t.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle} not in {}", file.display())) as u64
        + 1
}

#[test]
fn strict_es_module_project_with_tsx_and_jsx_keeps_types_behaviour_and_lines() {
    let Some(ts) = typescript() else { return };
    let tmp = scratch(ts);
    let src = tmp.path().join("strict");
    copy(&data("strict"), &src);
    let out = tmp.path().join("out");
    let store = tmp.path().join("store");
    let s = instrument(&store, &src, &out);
    assert_clean_first_round(&s);
    assert!(s["constructs_instrumented"].as_u64().unwrap() >= 60, "{s}");
    assert_eq!(s["captured_by_language"]["typescript"], s["constructs_instrumented"], "{s}");
    assert!(assert_lines_kept(&src, &out) >= 7);
    assert_strip_and_idempotence(tmp.path(), &store, &src, &out);

    // Both compile under the strict tsconfig, and every emitted declaration is the same: no
    // inferred type changed.
    tsc(ts, &src);
    tsc(ts, &out);
    assert_eq!(declarations(&out), declarations(&src), "instrumentation changed an inferred type");
    let original = node_run(&src, "dist/main.js", None);
    assert!(original.contains("<div><h1>T</h1><ul><li>[ ] a</li><li>[x] b</li></ul></div>\n<b>HI</b>\n"), "{original}");
    assert!(original.ends_with("stack ok\ndone\n"), "{original}");
    let ev_path = tmp.path().join("events.jsonl");
    assert_eq!(node_run(&out, "dist/main.js", None), original, "output changed with telemetry off");
    assert!(!ev_path.exists());
    assert_eq!(node_run(&out, "dist/main.js", Some(&ev_path)), original, "output changed with telemetry on");
    let evs = events(&ev_path);

    for (name, rel, needle) in [
        ("object", "src/arrows.ts", "export const object = "),
        ("sequence", "src/arrows.ts", "export const sequence = "),
        ("multiline", "src/arrows.ts", "export const multiline = "),
        ("withDefault", "src/arrows.ts", "export function withDefault("),
        ("generic", "src/arrows.ts", "export const generic = "),
        ("Counter.increment", "src/arrows.ts", "readonly increment = "),
        ("Circle.area", "src/classes.ts", "override area(): number { return Math.round"),
        ("Square.constructor", "src/classes.ts", "constructor(side: number)"),
        ("Shape.get label", "src/classes.ts", "get label()"),
        ("Shape.set label", "src/classes.ts", "set label(v: string)"),
        ("Shape.get count", "src/classes.ts", "static get count()"),
        ("Shape.#reveal", "src/classes.ts", "#reveal(): string"),
        ("Shape.[Symbol.iterator]", "src/classes.ts", "*[Symbol.iterator]()"),
        ("Shape.later", "src/classes.ts", "async later(x: number)"),
        ("point.get sum", "src/classes.ts", "get sum()"),
        ("point.quoted key", "src/classes.ts", "'quoted key'()"),
        ("overloaded", "src/classes.ts", "export function overloaded(a: string | number)"),
        ("definite", "src/classes.ts", "export function definite()"),
        ("countUp", "src/flow.ts", "export function* countUp("),
        ("ticks", "src/flow.ts", "export async function* ticks("),
        ("loops", "src/flow.ts", "export async function loops("),
        ("report", "src/own_tel.ts", "export function report("),
        ("Item", "src/App.tsx", "export function Item("),
        ("List", "src/App.tsx", "export const List = "),
        ("App", "src/App.tsx", "export function App("),
        ("Badge", "src/legacy.jsx", "export function Badge("),
        ("render", "src/h.ts", "export function render("),
    ] {
        let e = find(&evs, "func_entry", name).unwrap_or_else(|| panic!("no func_entry for {name}"));
        assert_eq!(e["code.file.path"], rel, "{e}");
        assert_eq!(e["code.line.number"], line_of(&src.join(rel), needle), "{name}: {e}");
    }
    // Parameter properties are arguments; `this` parameters and types are not.
    assert_eq!(find(&evs, "func_entry", "Item").unwrap()["args"], serde_json::json!({ "name": "a", "done": false }));
    assert_eq!(find(&evs, "func_exit", "sequence").unwrap()["results"], serde_json::json!([6]));
    assert_eq!(find(&evs, "func_exit", "overloaded").unwrap()["results"], serde_json::json!(["A"]));
    assert_eq!(find(&evs, "func_exit", "thrower").unwrap()["error"], "Error: arrow threw");
    // Bodiless and ambient code got nothing: the abstract method, overload signatures, the
    // namespace's function, the enum; a derived constructor with a parameter property is left
    // alone (its `super()` must stay a root statement), one without is instrumented.
    for name in ["Shape.area", "Geometry.unit", "unit", "Circle.constructor"] {
        assert!(find(&evs, "func_entry", name).is_none(), "{name} was instrumented");
    }
    let flow = std::fs::read_to_string(out.join("src/flow.ts")).unwrap();
    assert!(flow.starts_with("/*tf{*/import * as __teleforgeTel from \"../_teleforge_tel.cjs\"; /*}tf*/"), "{flow}");
    let classes = std::fs::read_to_string(out.join("src/classes.ts")).unwrap();
    assert!(classes.contains("export namespace Geometry { export function unit(): number { return 1 } }\n"));
    // Loops of every kind, the hot one sampled; assignments recorded.
    let hot_line = line_of(&src.join("src/flow.ts"), "i < 100000");
    let hot = evs.iter().filter(|e| e["kind"] == "loop_iter" && e["code.line.number"] == hot_line).count();
    assert!(hot > 0 && hot < 200, "hot loop wrote {hot} events");
    for needle in ["for (const k in o)", "for (const x of xs)", "while (n < 3)", "do n--", "for await"] {
        let line = line_of(&src.join("src/flow.ts"), needle);
        assert!(
            evs.iter().any(|e| e["kind"] == "loop_iter" && e["code.line.number"] == line),
            "no loop_iter for {needle}"
        );
    }
    let chained: Vec<&Value> =
        evs.iter().filter(|e| e["kind"] == "var_assign" && e["code.function.name"] == "chained").collect();
    assert!(chained.iter().any(|e| e["variable"] == "a" && e["value"] == 5), "{chained:?}");
}

#[test]
fn commonjs_project_under_verbatim_module_syntax() {
    let Some(ts) = typescript() else { return };
    let tmp = scratch(ts);
    let src = tmp.path().join("cjs");
    copy(&data("cjs"), &src);
    let out = tmp.path().join("out");
    let store = tmp.path().join("store");
    let s = instrument(&store, &src, &out);
    assert_clean_first_round(&s);
    assert!(s["constructs_instrumented"].as_u64().unwrap() >= 8, "{s}");
    assert_eq!(assert_lines_kept(&src, &out), 2);
    // `import x = require(…)`: the only form verbatimModuleSyntax allows in CommonJS; the `.cts`
    // file's directive stays first.
    let index = std::fs::read_to_string(out.join("src/index.ts")).unwrap();
    assert!(index.starts_with("/*tf{*/import __teleforgeTel = require(\"../_teleforge_tel.cjs\"); /*}tf*/"), "{index}");
    let util = std::fs::read_to_string(out.join("src/util.cts")).unwrap();
    assert!(util.starts_with("'use strict';/*tf{*/ import __teleforgeTel = require("), "{util}");
    assert_strip_and_idempotence(tmp.path(), &store, &src, &out);
    tsc(ts, &src);
    tsc(ts, &out);
    assert_eq!(declarations(&out), declarations(&src));
    let original = node_run(&src, "dist/run.js", None);
    assert_eq!(original, "6 4 A-B\n");
    assert_eq!(node_run(&out, "dist/run.js", None), original);
    let ev_path = tmp.path().join("events.jsonl");
    assert_eq!(node_run(&out, "dist/run.js", Some(&ev_path)), original);
    let evs = events(&ev_path);
    let main = find(&evs, "func_entry", "main").unwrap();
    assert_eq!(main["args"]["args"], "<Array len=2>");
    assert_eq!(main["code.line.number"], 2);
    assert_eq!(find(&evs, "func_exit", "sum").unwrap()["results"], serde_json::json!([6]));
    assert!(find(&evs, "func_entry", "Derived.constructor").is_some());
}

#[test]
fn a_type_error_the_original_has_blames_nobody() {
    let Some(ts) = typescript() else { return };
    let tmp = scratch(ts);
    let src = tmp.path().join("p");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("tsconfig.json"),
        r#"{"compilerOptions":{"strict":true,"noEmit":true,"module":"esnext","moduleResolution":"bundler"}}"#,
    )
    .unwrap();
    // A baseline error on line 3, and a file whose own code is fine.
    std::fs::write(src.join("a.ts"), "export function f(a: number): number {\n  const b = a * 2;\n  const c: string = b;\n  return b + c.length;\n}\n").unwrap();
    std::fs::write(src.join("b.ts"), "export const g = (xs: number[]) => xs.map((x) => x + 1);\n").unwrap();
    let out = tmp.path().join("out");
    let s = instrument(&tmp.path().join("store"), &src, &out);
    assert_eq!(s["left_out"].as_array().unwrap().len(), 0, "{s}");
    assert_eq!(s["constructs_instrumented"], s["constructs_found"], "{s}");
    let a = std::fs::read_to_string(out.join("a.ts")).unwrap();
    assert!(a.contains("const c: string = b;/*tf{*/ __teleforgeTel.varAssign("), "{a}");
}

/// Vite's layout: `tsconfig.json` lists no files, only `references` to the app's and the build
/// config's projects; each file is checked by the referenced project that includes it (with that
/// project's `strict`, `noUnusedLocals`, ...), and errors the original has there blame nobody.
#[test]
fn a_solution_tsconfig_checks_each_file_with_the_referenced_project_that_includes_it() {
    let Some(ts) = typescript() else { return };
    let tmp = scratch(ts);
    let src = tmp.path().join("app");
    std::fs::create_dir_all(src.join("src")).unwrap();
    let write = |rel: &str, text: &str| std::fs::write(src.join(rel), text).unwrap();
    write(
        "tsconfig.json",
        r#"{ "files": [], "references": [{ "path": "./tsconfig.app.json" }, { "path": "./tsconfig.node.json" }] }"#,
    );
    write(
        "tsconfig.app.json",
        r#"{ "compilerOptions": { "composite": true, "tsBuildInfoFile": "./node_modules/.tmp/app.tsbuildinfo", "target": "ES2020", "module": "ESNext", "moduleResolution": "bundler", "jsx": "preserve", "strict": true, "noUnusedLocals": true, "noEmit": true, "allowImportingTsExtensions": true, "isolatedModules": true, "moduleDetection": "force" }, "include": ["src"] }"#,
    );
    write(
        "tsconfig.node.json",
        r#"{ "compilerOptions": { "composite": true, "target": "ES2022", "module": "ESNext", "moduleResolution": "bundler", "strict": true, "noEmit": true }, "include": ["vite.config.ts"] }"#,
    );
    write("vite.config.ts", "export default { plugins: [] as string[] };\nexport function cfg(mode: string) {\n  return mode === 'dev' ? 1 : 2;\n}\n");
    // JSX without React's types (TS7026) and a wrong annotation (TS2322): the original's errors.
    write("src/App.tsx", "import { add } from './util.ts';\nexport function App(props: { n: number }) {\n  const total = add(props.n, 1);\n  return <p>{total}</p>;\n}\n");
    write(
        "src/util.ts",
        "export function add(a: number, b: number): number {\n  return a + b;\n}\nexport const bad: number = 'x';\n",
    );
    let out = tmp.path().join("out");
    let s = instrument(&tmp.path().join("store"), &src, &out);
    assert_eq!(s["constructs_found"], 4, "{s}");
    assert_clean_first_round_with_baseline(&s);
    // The files were type-checked, not only parsed: the original's errors were found and not
    // blamed (the original's compile, counted once, serves as the baseline).
    assert_eq!(s["compiler_runs"], 2, "{s}");
    let app = std::fs::read_to_string(out.join("src/App.tsx")).unwrap();
    assert!(app.contains("__teleforgeTel.varAssign(\"App\", \"src/App.tsx\", 3, \"total\", total)"), "{app}");
}

/// Every construct validated in the first round; one more compiler run for the baseline of the
/// files that had diagnostics.
fn assert_clean_first_round_with_baseline(s: &Value) {
    assert_eq!(s["left_out"].as_array().unwrap().len(), 0, "{s}");
    assert_eq!(s["first_attempt_successes"], s["constructs_found"], "{s}");
    assert!(s["compiler_runs"].as_u64().unwrap() <= 2, "{s}");
}

#[test]
fn without_typescript_the_error_names_the_fix_and_no_validate_works() {
    if !have("node") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("x");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("main.ts"), "export function f(a: number): number {\n  return a\n}\n").unwrap();
    // PATH holds node only: no project TypeScript, no tsc.
    let node = which("node").unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(node, bin.join("node")).unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_teleforge"))
            .arg("--storage-dir")
            .arg(tmp.path().join("store"))
            .args(["instrument", src.to_str().unwrap(), "--diff"])
            .args(extra)
            .env("PATH", &bin)
            .output()
            .unwrap()
    };
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(69), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("npm install --save-dev typescript") && err.contains("--no-validate"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let o = run(&["--no-validate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("__teleforgeTel.funcEntry(\"f\", \"main.ts\", 1, { a })"),
        "{}",
        text(&o)
    );
}

/// A JavaScript project with JSX and no TypeScript: its `.js` files are instrumented as before,
/// its `.jsx` files are left alone (nothing can check them), and the run succeeds.
#[test]
fn jsx_in_a_javascript_project_without_typescript_is_left_alone() {
    if !have("node") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("x");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("main.js"), "function f(a) {\n  return a\n}\nf(1)\n").unwrap();
    std::fs::write(src.join("App.jsx"), "export function App(p) {\n  return <p>{p.t}</p>\n}\n").unwrap();
    let node = which("node").unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(node, bin.join("node")).unwrap();
    let out = tmp.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_teleforge"))
        .arg("--storage-dir")
        .arg(tmp.path().join("store"))
        .args(["instrument", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"])
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["constructs_instrumented"], 1, "{s}");
    assert_eq!(s["files_skipped"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum::<u64>(), 1, "{s}");
    assert_eq!(std::fs::read(out.join("App.jsx")).unwrap(), std::fs::read(src.join("App.jsx")).unwrap());
    assert!(std::fs::read_to_string(out.join("main.js")).unwrap().contains("funcEntry(\"f\""));
}

/// `npm pack SPEC` into `dir`, unpacked (`dir/package`) and copied (`dir/inst`); `None` (the test
/// skips) when npm cannot fetch it, which fails in CI.
fn npm_package(dir: &Path, spec: &str, tgz: &str) -> Option<(PathBuf, PathBuf)> {
    let o =
        Command::new("npm").args(["pack", "--silent", spec, "--pack-destination"]).arg(dir).current_dir(dir).output();
    match o {
        Ok(o) if o.status.success() => {}
        other => {
            assert!(std::env::var_os("CI").is_none(), "npm pack {spec} failed in CI: {other:?}");
            eprintln!("skipping: npm pack {spec} failed: {other:?}");
            return None;
        }
    }
    let x = Command::new("tar").arg("xzf").arg(dir.join(tgz)).current_dir(dir).output().unwrap();
    assert!(x.status.success(), "{}", text(&x));
    let (orig, inst) = (dir.join("package"), dir.join("inst"));
    copy(&orig, &inst);
    Some((orig, inst))
}

/// `instrument SRC --in-place --json`: nothing left out, at least `floor` constructs, every one
/// right first time.
fn instrument_in_place(store: &Path, src: &Path, floor: u64) -> Value {
    let o = tf(store, &["instrument", src.to_str().unwrap(), "--in-place", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["left_out"].as_array().unwrap().len(), 0, "{s}");
    assert!(s["constructs_instrumented"].as_u64().unwrap() >= floor, "{s}");
    assert_eq!(s["first_attempt_successes"], s["constructs_instrumented"], "{s}");
    s
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(tool)).find(|p| p.is_file())
}

/// rxjs 7.8.1 from npm (its tarball ships its TypeScript sources, not its tests): every construct
/// of its 251 sources type-checks first time under its own strict tsconfig.json, the rebuilt
/// CommonJS build behaves the same on a program that exercises operators, subjects, retries and
/// errors, with telemetry off and on, and telemetry on writes events.
#[test]
fn npm_rxjs_type_checks_first_time_and_behaves_the_same_instrumented() {
    let Some(ts) = typescript() else { return };
    if !have("tar") {
        return;
    }
    let tmp = scratch(ts);
    let Some((orig, inst)) = npm_package(tmp.path(), "rxjs@7.8.1", "rxjs-7.8.1.tgz") else { return };
    let store = tmp.path().join("store");
    let s = instrument_in_place(&store, &inst.join("src"), 1400);
    // Two languages (its .ts sources and a few .js files), each: the original's compile and one
    // round, whatever the number of constructs.
    assert!(s["compiler_runs"].as_u64().unwrap() <= 4, "{s}");

    // Its CommonJS build (ES2015: the shipped config targets ES5, where TypeScript forbids
    // function declarations inside the `try` blocks the function forms add; see the report).
    for dir in [&orig, &inst] {
        let o = Command::new("node")
            .arg(ts.join("node_modules/typescript/bin/tsc"))
            .args(["-p", "src/tsconfig.cjs.json", "--target", "es2015"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "tsc failed in {}:\n{}", dir.display(), text(&o));
    }
    std::fs::copy(inst.join("src/_teleforge_tel.cjs"), inst.join("dist/cjs/_teleforge_tel.cjs")).unwrap();
    let demo = tmp.path().join("demo.js");
    std::fs::write(&demo, RXJS_DEMO).unwrap();
    let run = |root: &Path, events: Option<&Path>| {
        let mut c = Command::new("node");
        c.arg(&demo).arg(root).env_remove("TELEMETRY_FILE");
        if let Some(e) = events {
            c.env("TELEMETRY_FILE", e);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let original = run(&orig, None);
    assert_eq!(
        original,
        "[[10,40,90],[[1,2],[3]],10,[\"a1\",\"a2\",\"b1\",\"b2\"],[2,4],7,3,\"boom\",[[1,\"x\"],[2,\"y\"]]]\n"
    );
    assert_eq!(run(&inst, None), original, "telemetry off");
    let ev = tmp.path().join("events.jsonl");
    assert_eq!(run(&inst, Some(&ev)), original, "telemetry on");
    let evs = events(&ev);
    assert!(evs.len() > 500, "{} events", evs.len());
    assert!(find(&evs, "func_entry", "map").is_some_and(|e| e["code.file.path"] == "internal/operators/map.ts"));
}

const RXJS_DEMO: &str = r#"const root = process.argv[2];
const { of, from, interval, firstValueFrom, lastValueFrom, Subject, BehaviorSubject, zip, defer, throwError } = require(root + '/dist/cjs/index.js');
const { map, filter, take, scan, mergeMap, catchError, toArray, reduce, distinctUntilChanged, bufferCount, retry } = require(root + '/dist/cjs/operators/index.js');
(async () => {
  const out = [];
  out.push(await lastValueFrom(of(1, 2, 3, 4, 5).pipe(filter((x) => x % 2 === 1), map((x) => x * 10), scan((a, b) => a + b, 0), toArray())));
  out.push(await lastValueFrom(from([1, 1, 2, 2, 3]).pipe(distinctUntilChanged(), bufferCount(2), toArray())));
  out.push(await firstValueFrom(interval(1).pipe(take(5), reduce((a, b) => a + b, 0))));
  out.push(await lastValueFrom(of('a', 'b').pipe(mergeMap((x) => of(x + '1', x + '2')), toArray())));
  const s = new Subject(); const seen = []; s.pipe(map((x) => x * 2)).subscribe((v) => seen.push(v)); s.next(1); s.next(2); s.complete(); out.push(seen);
  const b = new BehaviorSubject(7); out.push(b.getValue());
  let n = 0; out.push(await lastValueFrom(defer(() => (++n < 3 ? throwError(() => new Error('e' + n)) : of(n))).pipe(retry(3))));
  out.push(await lastValueFrom(throwError(() => new Error('boom')).pipe(catchError((e) => of(e.message)))));
  out.push(await lastValueFrom(zip(of(1, 2), of('x', 'y')).pipe(toArray())));
  console.log(JSON.stringify(out));
})();
"#;

/// @tanstack/query-core 5.59.0 from npm ships its TypeScript sources and its vitest suites: its
/// sources (no tsconfig.json in the tarball: checked with the defaults) are instrumented, every
/// construct first time, and the suites that need no DOM and no React pass on the instrumented
/// copy with telemetry off and on.
#[test]
fn npm_tanstack_query_core_passes_its_own_tests_instrumented() {
    let Some(tools) = typescript() else { return };
    if !have("tar") {
        return;
    }
    let tmp = scratch(tools);
    let Some((orig, inst)) = npm_package(tmp.path(), "@tanstack/query-core@5.59.0", "tanstack-query-core-5.59.0.tgz")
    else {
        return;
    };
    let suites = [
        "src/__tests__/infiniteQueryObserver.test.tsx",
        "src/__tests__/notifyManager.test.tsx",
        "src/__tests__/utils.test.tsx",
    ];
    let vitest = |dir: &Path, events: Option<&Path>| {
        let mut c = Command::new("node");
        c.arg(tools.join("node_modules/vitest/vitest.mjs"))
            .arg("run")
            .args(suites)
            .current_dir(dir)
            .env_remove("TELEMETRY_FILE")
            .env("CI", "1")
            .env("NO_COLOR", "1")
            .env_remove("FORCE_COLOR");
        if let Some(e) = events {
            c.env("TELEMETRY_FILE", e);
        }
        c.output().unwrap()
    };
    let t = vitest(&orig, None);
    assert!(t.status.success(), "the package's own tests fail WITHOUT teleforge:\n{}", text(&t));
    let passed = |o: &std::process::Output| {
        let out = text(o);
        out.lines().find(|l| l.trim_start().starts_with("Tests")).map(str::to_string).unwrap_or_default()
    };
    let baseline = passed(&t);
    assert!(baseline.contains("64 passed"), "{baseline}");

    let store = tmp.path().join("store");
    instrument_in_place(&store, &inst.join("src"), 600);

    let t = vitest(&inst, None);
    assert!(t.status.success(), "tests fail on the instrumented copy (telemetry off):\n{}", text(&t));
    assert_eq!(passed(&t), baseline);
    let ev = tmp.path().join("events.jsonl");
    let t = vitest(&inst, Some(&ev));
    assert!(t.status.success(), "tests fail on the instrumented copy (telemetry on):\n{}", text(&t));
    assert_eq!(passed(&t), baseline);
    let evs = events(&ev);
    assert!(evs.len() > 1000, "{} events", evs.len());
    assert!(evs.iter().any(|e| e["kind"] == "func_entry" && e["code.file.path"] == "infiniteQueryObserver.ts"));
}
