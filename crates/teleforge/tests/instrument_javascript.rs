//! `teleforge instrument` and `strip` on real JavaScript trees, validated and run with the real
//! node: the example shop, a tree of shapes that break naive instrumenters (arrow functions with
//! expression bodies, getters and setters, class fields, generators, async code, directives,
//! ES modules and CommonJS, derived constructors, a hashbang script, a file with its own `Tel`),
//! and a real npm package with its own test suite.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{assert_marked_lines_kept, assert_strip_and_idempotence, copy, events, have, instrument, text, tf};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/javascript/shop")
}

fn tricky() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/javascript/tricky")
}

/// Runs `node script` in `dir` (telemetry to `events` when given) and returns its stdout.
fn node_run(dir: &Path, script: &str, events: Option<&Path>) -> String {
    let mut c = Command::new("node");
    c.arg(script).current_dir(dir).env_remove("TELEMETRY_FILE").env_remove("TELEMETRY_SAMPLE_FIRST");
    if let Some(e) = events {
        c.env("TELEMETRY_FILE", e);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "node {script} failed in {}:\n{}", dir.display(), text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Instruments `src` into `out`; the `--json` summary.
/// The summary of a run where every construct validated in the first round.
fn assert_clean_first_round(s: &Value) {
    assert_eq!(s["left_out"].as_array().unwrap().len(), 0, "{s}");
    assert_eq!(s["constructs_instrumented"], s["constructs_found"], "{s}");
    assert_eq!(s["first_attempt_successes"], s["constructs_instrumented"], "{s}");
    // One round, however many constructs (compiler runs do not grow with them), and no run before
    // it: the originals are parsed only for files the check reports something in.
    assert_eq!(s["compiler_runs"], 1, "{s}");
    assert_eq!(s["learnings_captured"], s["constructs_instrumented"], "{s}");
    assert_eq!(s["runtime_files"], serde_json::json!(["_teleforge_tel.cjs"]), "{s}");
}

/// Every JavaScript file keeps its lines (see [`support::assert_marked_lines_kept`]).
fn assert_same_line_counts(src: &Path, out: &Path) -> usize {
    assert_marked_lines_kept(src, out, |n| n.ends_with(".js") || n.ends_with(".mjs") || n.ends_with(".cjs"))
}

fn find<'a>(evs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    evs.iter().find(|e| e["kind"] == kind && e["code.function.name"] == name)
}

/// The 1-based line of the first line of `file` containing `needle`.
fn line_of(file: &Path, needle: &str) -> u64 {
    let t = std::fs::read_to_string(file).unwrap();
    t.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle} not in {}", file.display())) as u64
        + 1
}

#[test]
fn example_shop_keeps_its_output_and_emits_events() {
    if !have("node") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("shop");
    copy(&example(), &src);
    let out = tmp.path().join("out");
    let store = tmp.path().join("store");
    let s = instrument(&store, &src, &out);
    assert_clean_first_round(&s);
    assert!(s["constructs_instrumented"].as_u64().unwrap() >= 50, "{s}");

    let original = node_run(&src, "main.js", None);
    assert!(original.contains("total: $36.99"), "{original}");
    let ev_path = tmp.path().join("events.jsonl");
    assert_eq!(node_run(&out, "main.js", None), original, "output changed with telemetry off");
    assert!(!ev_path.exists());
    assert_eq!(node_run(&out, "main.js", Some(&ev_path)), original, "output changed with telemetry on");
    let evs = events(&ev_path);

    // Names and original lines of every shape in the example.
    let catalog = src.join("lib/catalog.js");
    let cart = src.join("lib/cart.js");
    let pricing = src.join("lib/pricing.mjs");
    for (name, file, rel, needle) in [
        ("main", src.join("main.js"), "main.js", "async function main()"),
        ("formatMoney", src.join("main.js"), "main.js", "function formatMoney("),
        ("byName", src.join("main.js"), "main.js", "const byName ="),
        ("Product.constructor", catalog.clone(), "lib/catalog.js", "constructor(sku, name, price, stock)"),
        ("DigitalProduct.constructor", catalog.clone(), "lib/catalog.js", "constructor(sku, name, price, url)"),
        ("Product.get price", catalog.clone(), "lib/catalog.js", "get price()"),
        ("Product.set price", catalog.clone(), "lib/catalog.js", "set price(cents)"),
        ("skus", catalog.clone(), "lib/catalog.js", "function* skus("),
        ("makeIdGenerator.<anonymous>", catalog.clone(), "lib/catalog.js", "return () =>"),
        ("Cart.add", cart.clone(), "lib/cart.js", "add(product, qty = 1)"),
        ("Cart.totalWith", cart.clone(), "lib/cart.js", "totalWith = (tax)"),
        ("Cart.lines", cart.clone(), "lib/cart.js", "*lines()"),
        ("quote", pricing.clone(), "lib/pricing.mjs", "export async function quote("),
        ("applyCoupon", pricing.clone(), "lib/pricing.mjs", "export const applyCoupon"),
    ] {
        let e = find(&evs, "func_entry", name).unwrap_or_else(|| panic!("no func_entry for {name}"));
        assert_eq!(e["code.file.path"], rel, "{e}");
        assert_eq!(e["code.line.number"], line_of(&file, needle), "{name}: {e}");
        let span = &e["span_id"];
        assert!(
            evs.iter().any(|x| x["kind"] == "func_exit" && &x["span_id"] == span),
            "no func_exit for {name}'s first call"
        );
    }
    // Arguments and results; a setter's error; a generator's exit has no results.
    let fm = find(&evs, "func_entry", "formatMoney").unwrap();
    assert_eq!(fm["args"], serde_json::json!({ "cents": 450 }));
    let fm_exit = evs.iter().find(|e| e["kind"] == "func_exit" && e["span_id"] == fm["span_id"]).unwrap();
    assert_eq!(fm_exit["results"], serde_json::json!(["$4.50"]));
    assert!(
        evs.iter().any(|e| e["kind"] == "func_exit"
            && e["code.function.name"] == "Product.set price"
            && e["error"] == "RangeError: bad price for tea: -1"),
        "the setter's exception is not recorded"
    );
    assert_eq!(find(&evs, "func_exit", "skus").unwrap()["results"], serde_json::json!([]));
    assert_eq!(find(&evs, "func_exit", "applyCoupon").unwrap()["results"], serde_json::json!([1849.5]));
    // A callee's parent is its caller; loops and assignments carry the span of their function.
    let add = find(&evs, "func_entry", "Cart.add").unwrap();
    let take = evs.iter().find(|e| {
        e["kind"] == "func_entry" && e["code.function.name"] == "Product.take" && e["parent_span_id"] == add["span_id"]
    });
    assert!(take.is_some(), "Product.take is not a child of Cart.add");
    let restock = find(&evs, "func_entry", "restock").unwrap();
    let loop_ev = find(&evs, "loop_iter", "restock").unwrap();
    assert_eq!(loop_ev["span_id"], restock["span_id"]);
    assert_eq!(loop_ev["code.line.number"], line_of(&cart, "for (let i = 0; i < products.length"));
    let var = evs.iter().find(|e| e["kind"] == "var_assign" && e["variable"] == "line").unwrap();
    assert_eq!(var["code.function.name"], "Cart.add");
    assert_eq!(var["value"], "<Object>");

    assert_eq!(assert_same_line_counts(&src, &out), 4);
    // The hashbang stays alone on line 1 and the directive stays first.
    let main = std::fs::read_to_string(out.join("main.js")).unwrap();
    let mut lines = main.lines();
    assert_eq!(lines.next(), Some("#!/usr/bin/env node"));
    assert!(lines.next().unwrap().starts_with("'use strict';/*tf{*/ const __teleforgeTel = "));
    assert_strip_and_idempotence(tmp.path(), &store, &src, &out);
}

#[test]
fn tricky_javascript_keeps_behaviour_strictness_and_line_numbers() {
    if !have("node") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    copy(&tricky(), &src);
    let out = tmp.path().join("out");
    let store = tmp.path().join("store");
    let s = instrument(&store, &src, &out);
    assert_clean_first_round(&s);
    assert!(s["constructs_instrumented"].as_u64().unwrap() >= 120, "{s}");
    assert_eq!(s["files_skipped"]["generated"], 1, "{s}");
    assert_eq!(s["files_skipped"]["test file"], 1, "{s}");
    assert_eq!(s["files_skipped"]["minified or bundled (a line over 1000 characters)"], 1, "{s}");

    let original = node_run(&src, "main.js", None);
    // The program checks strict mode (`this`, undeclared assignment, frozen objects, octal
    // escapes in eval), a function-level prologue, and its own stack-trace line numbers.
    assert!(original.contains("strict: true ReferenceError TypeError SyntaxError\n"), "{original}");
    assert!(original.contains("sloppy: [[true,\"number\"],false,\"changedy\"]\n"), "{original}");
    assert!(original.contains("stack: 6<10 13<34 16<30\n"), "{original}");
    assert!(original.ends_with("done\n"), "{original}");
    let ev_path = tmp.path().join("events.jsonl");
    assert_eq!(node_run(&out, "main.js", None), original, "output changed with telemetry off");
    assert_eq!(node_run(&out, "main.js", Some(&ev_path)), original, "output changed with telemetry on");
    let script = node_run(&src, "hashbang.js", None);
    assert_eq!(script, "hello script true\n");
    assert_eq!(node_run(&out, "hashbang.js", None), script);
    assert_eq!(node_run(&out, "hashbang.js", Some(&ev_path)), script);
    let evs = events(&ev_path);

    for (name, rel, needle) in [
        ("thisIsUndefined", "strict.js", "function thisIsUndefined()"),
        ("strictInside", "sloppy.js", "function strictInside(a)"),
        ("object", "arrows.js", "const object = "),
        ("twice", "arrows.js", "const twice = "),
        ("sequence", "arrows.js", "const sequence = "),
        ("multiline", "arrows.js", "const multiline = "),
        ("withDefault", "arrows.js", "function withDefault("),
        ("Counter.increment", "arrows.js", "increment = () =>"),
        ("Circle.constructor", "classes.js", "constructor(r, ...rest)"),
        ("Early.constructor", "classes.js", "constructor(skip)"),
        ("Anonymous.constructor", "classes.js", "constructor() {"),
        ("Shape.get label", "classes.js", "get label()"),
        ("Shape.set label", "classes.js", "set label(v)"),
        ("Shape.get count", "classes.js", "static get count()"),
        ("Shape.#reveal", "classes.js", "#reveal()"),
        ("Shape.[Symbol.iterator]", "classes.js", "*[Symbol.iterator]()"),
        ("Shape.later", "classes.js", "async later(x)"),
        ("point.get sum", "classes.js", "get sum()"),
        ("point.quoted key", "classes.js", "'quoted key'()"),
        ("countUp", "generators.js", "function* countUp("),
        ("ticks", "generators.js", "async function* ticks("),
        ("postfix", "asi.js", "function postfix()"),
        ("report", "own_tel.js", "function report(x)"),
        ("where", "stack.js", "function where()"),
        ("describe", "esm/legacy.cjs", "function describe()"),
        ("run", "esm/index.js", "export async function run("),
        ("square", "esm/helper.js", "export const square"),
        ("triple", "plain.mjs", "export default function triple"),
        ("greet", "hashbang.js", "function greet("),
    ] {
        let e = find(&evs, "func_entry", name).unwrap_or_else(|| panic!("no func_entry for {name}"));
        assert_eq!(e["code.file.path"], rel, "{e}");
        assert_eq!(e["code.line.number"], line_of(&src.join(rel), needle), "{name}: {e}");
    }
    // A derived constructor's entry runs before super() without touching `this`; one that
    // returns early without calling super() still reports its result.
    let circle = find(&evs, "func_entry", "Circle.constructor").unwrap();
    assert_eq!(circle["args"], serde_json::json!({ "r": -1, "rest": "<Array len=0>" }));
    let shape_in_circle = evs.iter().find(|e| {
        e["kind"] == "func_entry"
            && e["code.function.name"] == "Shape.constructor"
            && e["parent_span_id"] == circle["span_id"]
    });
    assert!(shape_in_circle.is_some(), "super() is not a child call of Circle's constructor");
    assert_eq!(find(&evs, "func_exit", "Early.constructor").unwrap()["results"], serde_json::json!(["<Object>"]));
    // Expression-bodied arrows report results; a comma expression is one result.
    assert_eq!(find(&evs, "func_exit", "sequence").unwrap()["results"], serde_json::json!([6]));
    assert_eq!(find(&evs, "func_exit", "Shape.get count").unwrap()["results"], serde_json::json!([2]));
    // Exceptions out of arrows are recorded and still thrown.
    let thrower = find(&evs, "func_exit", "thrower").unwrap();
    assert_eq!(thrower["error"], "Error: arrow threw");
    assert!(find(&evs, "func_exit", "throwsInExpression").unwrap()["error"].as_str().unwrap().starts_with("TypeError"));
    // Generators: no yielded or returned value is a result; closing one early is its exit.
    assert_eq!(find(&evs, "func_exit", "countUp").unwrap()["results"], serde_json::json!([]));
    assert!(find(&evs, "func_exit", "endless").is_some());
    assert_eq!(find(&evs, "func_exit", "failing").unwrap()["error"], "Error: generator failed");
    // Loops of every kind, the hot one sampled.
    let loops = std::fs::read_to_string(src.join("loops.js")).unwrap();
    let iter_lines: std::collections::BTreeSet<u64> = evs
        .iter()
        .filter(|e| e["kind"] == "loop_iter" && e["code.file.path"] == "loops.js")
        .map(|e| e["code.line.number"].as_u64().unwrap())
        .collect();
    for needle in
        ["for (let i = 0; i < 3; i++) out", "for (const k in", "while (n < 3)", "do n--", "while (spins++", "for await"]
    {
        assert!(iter_lines.contains(&line_of(&src.join("loops.js"), needle)), "no loop_iter for `{needle}`");
    }
    let hot_line = line_of(&src.join("loops.js"), "i < 100000");
    let hot = evs.iter().filter(|e| e["kind"] == "loop_iter" && e["code.line.number"] == hot_line).count();
    assert!(hot > 0 && hot < 200, "hot loop wrote {hot} events");
    assert!(loops.contains("hot += i % 7"));
    // Assignments without semicolons, chained and compound.
    let chained: Vec<&Value> =
        evs.iter().filter(|e| e["kind"] == "var_assign" && e["code.function.name"] == "chained").collect();
    assert!(chained.iter().any(|e| e["variable"] == "a" && e["value"] == 5), "{chained:?}");
    assert!(chained.iter().any(|e| e["variable"] == "b" && e["value"] == 5), "{chained:?}");

    // "use strict" is still the first statement; the hashbang is still alone on line 1.
    let strict = std::fs::read_to_string(out.join("strict.js")).unwrap();
    assert!(strict.starts_with("'use strict'/*tf{*/; const __teleforgeTel = "), "{strict}");
    let hashbang = std::fs::read_to_string(out.join("hashbang.js")).unwrap();
    assert!(hashbang.starts_with("#!/usr/bin/env node\n'use strict';/*tf{*/"), "{hashbang}");
    // ES modules import the runtime, CommonJS requires it, each with its own relative path.
    let index = std::fs::read_to_string(out.join("esm/index.js")).unwrap();
    assert!(index.contains("/*tf{*/import __teleforgeTel from \"../_teleforge_tel.cjs\"; /*}tf*/"), "{index}");
    let legacy = std::fs::read_to_string(out.join("esm/legacy.cjs")).unwrap();
    assert!(legacy.contains("require(\"../_teleforge_tel.cjs\")"), "{legacy}");
    // The user's own `Tel` is untouched and never called by the instrumentation.
    let own = std::fs::read_to_string(out.join("own_tel.js")).unwrap();
    assert!(own.contains("const Tel = {"), "{own}");
    // Skipped files are byte for byte the originals.
    for rel in ["lib/vendor.min.js", "lib/bundle.js", "gen/generated.js", "lib/math.test.js", "package.json"] {
        assert_eq!(std::fs::read(src.join(rel)).unwrap(), std::fs::read(out.join(rel)).unwrap(), "{rel} was touched");
    }
    assert!(assert_same_line_counts(&src, &out) >= 13);
    assert_strip_and_idempotence(tmp.path(), &store, &src, &out);
}

#[test]
fn crlf_files_and_files_copied_away_from_their_runtime_keep_working() {
    if !have("node") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let crlf = "'use strict'\r\nfunction add(a, b) {\r\n  const sum = a + b\r\n  return sum\r\n}\r\nconsole.log(add(1, 2), new Error().stack.split('\\n')[1].match(/:(\\d+):/)[1])\r\n";
    std::fs::write(src.join("crlf.js"), crlf).unwrap();
    let out = tmp.path().join("out");
    let store = tmp.path().join("store");
    let s = instrument(&store, &src, &out);
    assert_clean_first_round(&s);
    let text_out = std::fs::read_to_string(out.join("crlf.js")).unwrap();
    assert_eq!(text_out.matches("\r\n").count(), 6);
    assert_eq!(node_run(&out, "crlf.js", None), "3 6\n");
    // A CommonJS file copied without the runtime file runs, without telemetry.
    let alone = tmp.path().join("alone");
    std::fs::create_dir_all(&alone).unwrap();
    std::fs::copy(out.join("crlf.js"), alone.join("crlf.js")).unwrap();
    let ev = tmp.path().join("ev.jsonl");
    assert_eq!(node_run(&alone, "crlf.js", Some(&ev)), "3 6\n");
    assert!(events(&ev).is_empty());
    assert_eq!(node_run(&out, "crlf.js", Some(&ev)), "3 6\n");
    assert!(find(&events(&ev), "func_exit", "add").is_some_and(|e| e["results"] == serde_json::json!([3])));
}

#[test]
fn a_file_in_an_es_module_package_without_module_syntax_is_never_left_broken() {
    if !have("node") {
        return;
    }
    // Only the package.json says this file is an ES module. Whatever the language module decides
    // from the file alone, the validator checks it as node will run it (an ES module): the result
    // runs, with telemetry or with the construct left out and reported.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("package.json"), r#"{ "type": "module" }"#).unwrap();
    std::fs::write(
        src.join("main.js"),
        "function total(xs) {\n  let t = 0\n  for (const x of xs) t += x\n  return t\n}\nconsole.log(total([1, 2, 3]), this === undefined)\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let store = tmp.path().join("store");
    let o = tf(&store, &["instrument", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    let original = node_run(&src, "main.js", None);
    assert_eq!(original, "6 true\n");
    let ev = tmp.path().join("ev.jsonl");
    assert_eq!(node_run(&out, "main.js", Some(&ev)), original, "{s}");
    if s["constructs_instrumented"] != 0 {
        assert!(find(&events(&ev), "func_exit", "total").is_some(), "{s}");
    } else {
        assert!(
            s["left_out"][0]["reason"].as_str().unwrap().contains("require is not defined in ES module scope"),
            "{s}"
        );
    }
}

#[test]
fn without_node_on_path_the_error_names_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("x");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("main.js"), "function f(a) {\n  return a\n}\nf(1)\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_teleforge"))
        .arg("--storage-dir")
        .arg(tmp.path().join("store"))
        .args(["instrument", src.to_str().unwrap(), "--diff"])
        .env("PATH", tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(69), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("node not found on PATH") && err.contains("Node.js 18") && err.contains("--no-validate"),
        "{err}"
    );
}

#[test]
fn baseline_errors_are_not_blamed_and_a_form_that_failed_before_is_tried_last() {
    if !have("node") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    // Broken before teleforge touches it: a relative import of nothing (node's link error) and
    // a file that does not parse. Neither is blamed on a construct.
    std::fs::write(
        src.join("broken.mjs"),
        "import { x } from './missing.mjs';\nexport function f(a) {\n  return a + x\n}\n",
    )
    .unwrap();
    std::fs::write(src.join("syntax.js"), "function (\n").unwrap();
    // Files node cannot parse although tree-sitter can (JSX; a redeclaration) cannot be
    // validated (node stops at the first error, hiding any an insertion would add): left alone.
    std::fs::write(
        src.join("App.js"),
        "function App(props) {\n  return <div>{props.name}</div>\n}\nmodule.exports = App\n",
    )
    .unwrap();
    std::fs::write(src.join("dup.js"), "function twice() {\n  let a = 1\n  let a = 2\n  return a\n}\n").unwrap();
    std::fs::write(src.join("ok.js"), "function sum(a, b) {\n  return a + b\n}\nmodule.exports = sum\n").unwrap();
    let store = tmp.path().join("store");
    // An earlier run found that the results form fails for this context; its learnings were
    // imported and consolidated.
    let signature = "kind=function;arrow_expression_body=no;async=no;derived_constructor=no;directives=no;function_kind=declaration;generator=no;method_kind=none;module=cjs;params=simple;returns=values";
    let mut history = String::new();
    for run in ["r1", "r2"] {
        history.push_str(&format!(
            "{{\"language\":\"javascript\",\"construct_type\":\"function\",\"attempt_number\":1,\"success\":false,\"generated_code\":\"return __teleforgeTel.funcExit(__teleforgeS, a + b)\",\"validation_errors\":[\"ok.js:2:10: SyntaxError: Unexpected token\"],\"run_id\":\"{run}\",\"context\":{{\"form\":\"js.func.full\",\"signature\":\"{signature}\",\"subject\":\"ok.js:1:function:sum\"}}}}\n"
        ));
    }
    let file = tmp.path().join("history.jsonl");
    std::fs::write(&file, history).unwrap();
    assert!(tf(&store, &["learnings", "import", file.to_str().unwrap()]).status.success());
    assert!(tf(&store, &["consolidate", "--language", "javascript"]).status.success());
    // No construct explores (tries a demoted form first anyway): the order is what is tested.
    std::fs::write(src.join("teleforge.toml"), "[learning]\nexplore_share = 0.0\n").unwrap();

    let out = tmp.path().join("out");
    let s = instrument(&store, &src, &out);
    assert_eq!(s["left_out"].as_array().unwrap().len(), 0, "{s}");
    assert_eq!(s["files_skipped"]["has syntax errors"], 1, "{s}");
    assert_eq!(s["constructs_reordered_by_learning"], 1, "{s}");
    assert_eq!(s["compiler_runs"], 2, "{s}");
    assert!(std::fs::read_to_string(out.join("broken.mjs")).unwrap().contains("funcEntry(\"f\""));
    let ok = std::fs::read_to_string(out.join("ok.js")).unwrap();
    assert!(ok.contains("funcEntry(\"sum\"") && !ok.contains("funcExit(__teleforgeS, "), "{ok}");
    for rel in ["syntax.js", "App.js", "dup.js"] {
        assert_eq!(std::fs::read(src.join(rel)).unwrap(), std::fs::read(out.join(rel)).unwrap(), "{rel} was touched");
    }
    let skipped: u64 = s["files_skipped"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(skipped, 3, "{s}");
}

/// A real npm package at a pinned version: @fastify/error ships its tests (`node:test` and
/// `node:assert` only, so plain `node --test` runs them without its dev dependencies). One of
/// them copies `index.js` alone into a fake `node_modules`: the instrumented copy must run there
/// too, without its runtime file.
const NPM_FASTIFY_ERROR: (&str, &str) = ("@fastify/error", "4.2.0");

fn node_test(dir: &Path, events: Option<&Path>) -> std::process::Output {
    let mut c = Command::new("node");
    c.args(["--test", "test/"]).current_dir(dir).env_remove("TELEMETRY_FILE");
    if let Some(e) = events {
        c.env("TELEMETRY_FILE", e);
    }
    c.output().unwrap()
}

#[test]
fn npm_fastify_error_passes_its_own_tests_instrumented() {
    if !have("node") || !have("npm") || !have("tar") {
        return;
    }
    let (name, version) = NPM_FASTIFY_ERROR;
    let tmp = tempfile::tempdir().unwrap();
    let dl = tmp.path().join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    let o = Command::new("npm")
        .args(["pack", "--silent", &format!("{name}@{version}"), "--pack-destination"])
        .arg(&dl)
        .current_dir(tmp.path())
        .output();
    match o {
        Ok(o) if o.status.success() => {}
        other => {
            let why = match other {
                Ok(o) => text(&o),
                Err(e) => e.to_string(),
            };
            assert!(std::env::var_os("CI").is_none(), "npm pack {name}@{version} failed in CI:\n{why}");
            eprintln!("skipping: npm pack {name}@{version} failed:\n{why}");
            return;
        }
    }
    let archive = std::fs::read_dir(&dl).unwrap().next().unwrap().unwrap().path();
    let x = tmp.path().join("x");
    std::fs::create_dir_all(&x).unwrap();
    let t = Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(&x).output().unwrap();
    assert!(t.status.success(), "{}", text(&t));
    let src = x.join("package");

    let t = node_test(&src, None);
    assert!(t.status.success(), "the package's own tests fail without teleforge:\n{}", text(&t));
    let passed = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout).lines().find(|l| l.starts_with("# pass ")).map(str::to_string)
    };
    let baseline = passed(&t);
    assert!(baseline.is_some(), "{}", text(&t));

    let out = tmp.path().join("out");
    let store = tmp.path().join("store");
    let s = instrument(&store, &src, &out);
    assert_clean_first_round(&s);
    assert!(s["constructs_instrumented"].as_u64().unwrap() >= 15, "{s}");
    assert_eq!(s["files_skipped"]["test file"], 2, "{s}");
    let index = std::fs::read_to_string(out.join("index.js")).unwrap();
    assert!(index.contains("funcEntry(\"createError\""), "{index}");

    let t = node_test(&out, None);
    assert!(t.status.success(), "tests fail on the instrumented copy (telemetry off):\n{}", text(&t));
    assert_eq!(passed(&t), baseline);
    let ev = tmp.path().join("events.jsonl");
    let t = node_test(&out, Some(&ev));
    assert!(t.status.success(), "tests fail on the instrumented copy (telemetry on):\n{}", text(&t));
    assert_eq!(passed(&t), baseline);
    let evs = events(&ev);
    let entry = find(&evs, "func_entry", "createError").expect("no events for createError");
    assert_eq!(entry["code.file.path"], "index.js");
    assert_eq!(entry["code.line.number"], line_of(&src.join("index.js"), "function createError ("));
    assert!(evs.iter().any(|e| e["kind"] == "func_entry" && e["code.function.name"] == "FastifyError"));
    assert_eq!(assert_same_line_counts(&src, &out), s["files_instrumented"].as_u64().unwrap() as usize);
    assert_strip_and_idempotence(tmp.path(), &store, &src, &out);
}

/// An error the original already has in a file with nothing to instrument (a config file that
/// uses `require` in a `"type": "module"` package) is the original's: it blames no construct of
/// the files beside it.
#[test]
fn a_baseline_error_in_a_file_without_constructs_blames_nobody_beside_it() {
    if !have("node") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("package.json"), r#"{"name": "x", "type": "module"}"#).unwrap();
    std::fs::write(
        src.join("rollup.config.js"),
        "const path = require('path')\nexport default { input: path.join('a') }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("index.cjs"),
        "function add(a, b) {\n  const s = a + b\n  return s\n}\nmodule.exports = { add }\n",
    )
    .unwrap();
    let store = tmp.path().join("store");
    let s = instrument(&store, &src, &tmp.path().join("out"));
    assert_eq!(s["left_out"].as_array().unwrap().len(), 0, "{s}");
    assert!(s["constructs_instrumented"].as_u64().unwrap() >= 2, "{s}");
}
