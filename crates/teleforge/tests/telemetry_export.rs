//! `teleforge telemetry export`: Tel events → OTLP. The bundled examples are instrumented with
//! the real binary, run with the real toolchains, exported, and their span trees compared with
//! what each program does; the output is parsed with the official OpenTelemetry protobuf
//! definitions (PyPI `opentelemetry-proto`); an OTLP/HTTP receiver on 127.0.0.1 checks batching,
//! retries and that every span arrives once.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use support::{copy, events, have, have_python_module, text, tf};

fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(rel)
}

/// `teleforge telemetry export ARGS`.
fn export(store: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["telemetry", "export"];
    all.extend_from_slice(args);
    tf(store, &all)
}

/// Every span of an OTLP/JSON lines file, each with its resource's attributes under `resource`.
fn otlp_spans(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    otlp_spans_of(&text)
}

fn otlp_spans_of(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for line in text.lines() {
        let req: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {e}: {line}"));
        for rs in req["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                assert_eq!(ss["scope"]["name"], "teleforge");
                for s in ss["spans"].as_array().unwrap() {
                    let mut s = s.clone();
                    s["resource"] = rs["resource"]["attributes"].clone();
                    out.push(s);
                }
            }
        }
    }
    out
}

fn attr<'a>(list: &'a Value, key: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|kv| kv["key"] == key).map(|kv| &kv["value"])
}

/// Parses every line with `google.protobuf.json_format.Parse` into the official
/// `ExportTraceServiceRequest` (unknown fields refused), then checks the ids the OTLP/JSON way
/// (hex, which protobuf's own JSON mapping would read as base64) by re-parsing them as bytes.
/// Returns the span count, or `None` when the module is missing outside CI.
fn proto_span_count(path: &Path) -> Option<usize> {
    if !have_python_module("opentelemetry.proto.collector.trace.v1.trace_service_pb2") {
        return None;
    }
    const SCRIPT: &str = r#"
import base64, json, re, sys
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
hex_id = lambda s, n: re.fullmatch("[0-9a-f]{%d}" % n, s) is not None
spans = 0
for number, line in enumerate(open(sys.argv[1]), 1):
    req = json_format.Parse(line, ExportTraceServiceRequest())
    doc = json.loads(line)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                assert hex_id(s["traceId"], 32) and int(s["traceId"], 16), (number, s["traceId"])
                assert hex_id(s["spanId"], 16) and int(s["spanId"], 16), (number, s["spanId"])
                assert "parentSpanId" not in s or hex_id(s["parentSpanId"], 16), (number, s)
                for k in ("traceId", "spanId", "parentSpanId"):
                    if k in s:
                        s[k] = base64.b64encode(bytes.fromhex(s[k])).decode()
    as_bytes = json_format.Parse(json.dumps(doc), ExportTraceServiceRequest())
    for rs in as_bytes.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                assert len(s.trace_id) == 16 and len(s.span_id) == 8, s
                assert len(s.parent_span_id) in (0, 8), s
                assert s.end_time_unix_nano >= s.start_time_unix_nano, s
                spans += 1
print(spans)
"#;
    let o = Command::new("python3").arg("-c").arg(SCRIPT).arg(path).output().unwrap();
    assert!(o.status.success(), "the official protobuf definitions refused {}:\n{}", path.display(), text(&o));
    Some(String::from_utf8_lossy(&o.stdout).trim().parse().unwrap())
}

/// The span forest as indented text: children in start order, a run of identical sibling
/// subtrees written once with `×N`; `[unfinished]` and `[error]` mark those spans.
fn render_tree(spans: &[Value]) -> String {
    let ids: HashSet<&str> = spans.iter().map(|s| s["spanId"].as_str().unwrap()).collect();
    let mut children: HashMap<&str, Vec<&Value>> = HashMap::new();
    let mut roots = Vec::new();
    for s in spans {
        match s["parentSpanId"].as_str() {
            Some(p) => {
                assert!(ids.contains(p), "parent {p} of {s} is not exported");
                children.entry(p).or_default().push(s);
            }
            None => roots.push(s),
        }
    }
    let start = |s: &&Value| s["startTimeUnixNano"].as_str().unwrap().parse::<u64>().unwrap();
    fn render(s: &Value, children: &HashMap<&str, Vec<&Value>>, start: &dyn Fn(&&Value) -> u64) -> Vec<String> {
        let mut label = s["name"].as_str().unwrap().to_string();
        if attr(&s["attributes"], "teleforge.unfinished").is_some() {
            label.push_str(" [unfinished]");
        }
        if s["status"]["code"] == 2 {
            label.push_str(" [error]");
        }
        let mut kids = children.get(s["spanId"].as_str().unwrap()).cloned().unwrap_or_default();
        kids.sort_by_key(|k| start(k));
        let mut lines = vec![label];
        lines.extend(
            collapse(kids.iter().map(|k| render(k, children, start)).collect()).into_iter().map(|l| format!("  {l}")),
        );
        lines
    }
    fn collapse(subtrees: Vec<Vec<String>>) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < subtrees.len() {
            let mut n = 1;
            while i + n < subtrees.len() && subtrees[i + n] == subtrees[i] {
                n += 1;
            }
            let mut t = subtrees[i].clone();
            if n > 1 {
                t[0] = format!("{} ×{n}", t[0]);
            }
            out.extend(t);
            i += n;
        }
        out
    }
    roots.sort_by_key(|r| start(r));
    let forest: Vec<Vec<String>> = roots.iter().map(|r| render(r, &children, &start)).collect();
    collapse(forest).join("\n") + "\n"
}

/// What every export must keep, checked against the events themselves: one span per
/// `func_entry` with its span and parent ids, one trace per root call shared by its callees, the
/// resource of its process, `code.*` attributes.
fn check_against_events(evs: &[Value], spans: &[Value], service: &str) {
    let entries: Vec<&Value> = evs.iter().filter(|e| e["kind"] == "func_entry").collect();
    assert_eq!(spans.len(), entries.len(), "one span per func_entry");
    let mut by_id: HashMap<&str, &Value> = HashMap::new();
    for s in spans {
        by_id.insert(s["spanId"].as_str().unwrap(), s);
    }
    assert_eq!(by_id.len(), spans.len(), "every span once");
    for e in &entries {
        let s = by_id[e["span_id"].as_str().unwrap()];
        assert_eq!(s["parentSpanId"].as_str(), e["parent_span_id"].as_str(), "{e}");
        assert_eq!(s["name"], e["code.function.name"]);
        assert_eq!(s["startTimeUnixNano"], e["ts_unix_nano"].to_string());
        let a = &s["attributes"];
        assert_eq!(attr(a, "code.function.name").unwrap()["stringValue"], e["code.function.name"]);
        assert_eq!(attr(a, "code.file.path").unwrap()["stringValue"], e["code.file.path"]);
        assert_eq!(attr(a, "code.line.number").unwrap()["intValue"], e["code.line.number"].to_string());
        assert_eq!(attr(&s["resource"], "process.pid").unwrap()["intValue"], e["pid"].to_string());
        assert_eq!(attr(&s["resource"], "service.name").unwrap()["stringValue"], service);
        assert_eq!(attr(&s["resource"], "telemetry.sdk.name").unwrap()["stringValue"], "teleforge");
    }
    // Trace ids: a root's callees share it; two roots never do.
    let root_of = |s: &Value| {
        let mut id = s["spanId"].as_str().unwrap();
        while let Some(p) = by_id[id]["parentSpanId"].as_str() {
            id = p;
        }
        id.to_string()
    };
    let mut trace_of_root: HashMap<String, String> = HashMap::new();
    for s in spans {
        let root = root_of(s);
        let t = trace_of_root.entry(root).or_insert_with(|| s["traceId"].as_str().unwrap().to_string());
        assert_eq!(s["traceId"].as_str().unwrap(), t, "a callee in another trace than its root: {s}");
    }
    let distinct: HashSet<&String> = trace_of_root.values().collect();
    assert_eq!(distinct.len(), trace_of_root.len(), "two root calls share a trace id");
    // Loops and assignments inside calls become span events.
    let inside = evs
        .iter()
        .filter(|e| (e["kind"] == "loop_iter" || e["kind"] == "var_assign") && !e["span_id"].is_null())
        .count();
    let exported: usize = spans
        .iter()
        .flat_map(|s| s["events"].as_array().cloned().unwrap_or_default())
        .filter(|ev| ev["name"] == "loop_iter" || ev["name"] == "var_assign")
        .count();
    assert_eq!(exported, inside, "every loop/assignment event of a call is a span event");
}

/// Instruments `example` into a temp dir, runs it with telemetry on, exports; returns the events,
/// the spans and the OTLP file.
fn instrument_run_export(tmp: &Path, example: &Path, run: impl Fn(&Path, &Path)) -> (Vec<Value>, Vec<Value>, PathBuf) {
    let name = example.file_name().unwrap().to_str().unwrap();
    let src = tmp.join(name);
    copy(example, &src);
    let store = tmp.join("store");
    let out = tmp.join(format!("{name}-instrumented"));
    let o = tf(&store, &["instrument", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let ev_path = out.join("events.jsonl");
    run(&out, &ev_path);
    let evs = events(&ev_path);
    assert!(!evs.is_empty());
    let otlp = tmp.join("otlp.json");
    let o = export(&store, &[ev_path.to_str().unwrap(), "--out", otlp.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(o.stdout.is_empty(), "data went to the file, not stdout");
    let spans = otlp_spans(&otlp);
    check_against_events(&evs, &spans, name);
    if let Some(n) = proto_span_count(&otlp) {
        assert_eq!(n, spans.len());
    }
    (evs, spans, otlp)
}

fn run_ok(c: &mut Command) {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{c:?}:\n{}", text(&o));
}

/// The Go example's call tree: main adds two of its three items (plums has no quantity), then
/// `report` sorts the names and maps each through a closure that counts it; `Total` lists the
/// names and counts each.
const GO_TREE: &str = "\
main.main
  inventory.New
  main.parseQuantity
  inventory.(*Store).Add
  main.parseQuantity
  inventory.(*Store).Add
  main.parseQuantity
  main.report
    inventory.(*Store).Names
    main.Map
      main.report.func1 ×2
        inventory.(*Store).Count
  inventory.(*Store).Total
    inventory.(*Store).Names
    inventory.(*Store).Count ×2
";

#[test]
fn go_example_spans_follow_the_program() {
    if !have("go") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (_, spans, _) = instrument_run_export(tmp.path(), &example("golang/telemetry_demo"), |dir, ev| {
        run_ok(
            Command::new("go").args(["run", "."]).current_dir(dir).env("GOFLAGS", "-mod=mod").env("TELEMETRY_FILE", ev),
        );
    });
    assert_eq!(render_tree(&spans), GO_TREE);
    let main = spans.iter().find(|s| s["name"] == "main.main").unwrap();
    assert_eq!(attr(&main["resource"], "telemetry.sdk.language").unwrap()["stringValue"], "go");
    // main's loops and assignments are its span events, with their own lines.
    let evs = main["events"].as_array().unwrap();
    assert!(evs.iter().any(|e| e["name"] == "loop_iter"
        && attr(&e["attributes"], "teleforge.loop.iteration").is_some()
        && attr(&e["attributes"], "code.line.number").is_some()));
    assert!(evs.iter().any(|e| e["name"] == "var_assign"
        && attr(&e["attributes"], "teleforge.variable.name").unwrap()["stringValue"] == "store"));
}

/// The Python example: `@timed` runs at import (its own trace). In `main`, `build_catalog` is
/// called through the user's `wrapper`; teleforge gave `build_catalog` its entry-only form
/// (its own decorator cannot go outside `@timed` on an empty line), which records the call but no
/// exit and never becomes the caller of anything: it is a leaf marked unfinished, and the
/// `Catalog.add` calls it makes name the nearest recorded caller, `wrapper`. The lambda `apply`
/// holds no statements and is not recorded, so `discounted` is a callee of `price_table`.
const PY_TREE: &str = "\
main.timed
main.main
  main.timed.<locals>.wrapper
    main.build_catalog [unfinished]
    bookshop.catalog.Catalog.add ×3
  bookshop.pricing.price_table
    bookshop.pricing.discounted
    bookshop.catalog.Book.label
    bookshop.pricing.discounted
    bookshop.catalog.Book.label
    bookshop.pricing.discounted
    bookshop.catalog.Book.label
  main.authors
  main.total_async
";

#[test]
fn python_example_spans_follow_the_program() {
    if !have("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (_, spans, _) = instrument_run_export(tmp.path(), &example("python/bookshop"), |dir, ev| {
        run_ok(
            Command::new("python3")
                .arg("main.py")
                .current_dir(dir)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("TELEMETRY_FILE", ev),
        );
    });
    assert_eq!(render_tree(&spans), PY_TREE);
    // The asyncio task's call keeps its caller across the task boundary.
    let task = spans.iter().find(|s| s["name"] == "main.total_async").unwrap();
    assert!(attr(&task["attributes"], "thread.name").unwrap()["stringValue"].as_str().unwrap().contains("/task-"));
    // An entry-only call ends where it started.
    let entry_only = spans.iter().find(|s| s["name"] == "main.build_catalog").unwrap();
    assert_eq!(entry_only["startTimeUnixNano"], entry_only["endTimeUnixNano"]);
}

/// The JavaScript example: the catalog's constructors (the digital product's calls its super
/// constructor), the sort comparator, the cart (the fourth `add` throws: `take` refuses, and so
/// does the negative price setter), the `lines` generator (after its first yield its callees name
/// whoever resumed it, as docs/TELEMETRY.md says), getters, the ES module's coupon and the async
/// `quote` with its two awaited pauses, and the restock rounds.
const JS_TREE: &str = "\
main
  makeIdGenerator
  Product.constructor ×2
    Product.set price
  DigitalProduct.constructor
    Product.constructor
      Product.set price
  skus
  byName ×2
  Product.get label
  Product.get price
  formatMoney
  Product.get label
  Product.get price
  formatMoney
  Product.get label
  Product.get price
  formatMoney
  makeIdGenerator.<anonymous>
  Cart.constructor
  Cart.add ×2
    Product.take
  Cart.add
    DigitalProduct.take
      Product.take
  Cart.add [error]
    Product.take [error]
  Product.set price
  Product.set price [error]
  Cart.lines
    Cart.lines.<anonymous> ×2
    Product.get price
  formatMoney
  Product.get price
  formatMoney
  Product.get price
  formatMoney
  Cart.get count
  Cart.get total
    Cart.lines
      Cart.lines.<anonymous> ×2
      Product.get price
    Product.get price ×2
  formatMoney
  Cart.totalWith
    Cart.get total
      Cart.lines
        Cart.lines.<anonymous> ×2
        Product.get price
      Product.get price ×2
  formatMoney
  Cart.get total
    Cart.lines
      Cart.lines.<anonymous> ×2
      Product.get price
    Product.get price ×2
  applyCoupon
    RULES.HALF
  formatMoney
  quote
    Cart.get total
      Cart.lines
        Cart.lines.<anonymous> ×2
        Product.get price
      Product.get price ×2
    pause
      pause.<anonymous>
    Cart.get count
    RULES.BULK
    pause
      pause.<anonymous>
  formatMoney
  restock
    Product.get stock ×2
  restock ×3
    Product.get stock ×2
    Product.refill
  makeIdGenerator.<anonymous>
";

#[test]
fn javascript_example_spans_follow_the_program() {
    if !have("node") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (_, spans, _) = instrument_run_export(tmp.path(), &example("javascript/shop"), |dir, ev| {
        run_ok(Command::new("node").arg("main.js").current_dir(dir).env("TELEMETRY_FILE", ev));
    });
    assert_eq!(render_tree(&spans), JS_TREE);
    // A thrown error: status ERROR with its message, and an `exception` event.
    let failed = spans.iter().find(|s| s["name"] == "Product.take" && s["status"]["code"] == 2).unwrap();
    assert_eq!(failed["status"]["message"], "Error: only 1 Mug left");
    let exc = failed["events"].as_array().unwrap().iter().find(|e| e["name"] == "exception").unwrap();
    assert_eq!(attr(&exc["attributes"], "exception.message").unwrap()["stringValue"], "Error: only 1 Mug left");
    let add = spans.iter().find(|s| s["name"] == "Cart.add").unwrap();
    assert!(attr(&add["attributes"], "teleforge.args.qty").is_some(), "{add}");
    assert_eq!(attr(&add["resource"], "telemetry.sdk.language").unwrap()["stringValue"], "nodejs");
}

/// A process that ends inside calls (`process.exit` in JavaScript, `os._exit` in Python): the
/// calls still open are exported as unfinished spans ending at the last thing seen inside them.
#[test]
fn calls_open_when_the_process_ends_are_unfinished_spans() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let cases: [(&str, &str, &str, &[&str], &str); 2] = [
        (
            "node",
            "main.js",
            "function step(n) {\n  const x = n * 2;\n  if (n === 2) process.exit(3);\n  return x;\n}\n\nfunction work() {\n  for (let i = 1; i < 5; i++) {\n    step(i);\n  }\n}\n\nfunction main() {\n  work();\n}\n\nmain();\n",
            &["main.js"],
            "main [unfinished]\n  work [unfinished]\n    step\n    step [unfinished]\n",
        ),
        (
            "python3",
            "main.py",
            "import os\n\n\ndef step(n):\n    x = n * 2\n    if n == 2:\n        os._exit(3)\n    return x\n\n\ndef work():\n    for i in range(1, 5):\n        step(i)\n\n\ndef main():\n    work()\n\n\nmain()\n",
            &["main.py"],
            "main.main [unfinished]\n  main.work [unfinished]\n    main.step\n    main.step [unfinished]\n",
        ),
    ];
    for (tool, file, source, argv, want) in cases {
        if !have(tool) {
            continue;
        }
        let src = tmp.path().join(format!("crash-{tool}"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join(file), source).unwrap();
        let out = tmp.path().join(format!("crash-{tool}-out"));
        let o = tf(&store, &["instrument", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        let ev = out.join("events.jsonl");
        let o = Command::new(tool).args(argv).current_dir(&out).env("TELEMETRY_FILE", &ev).output().unwrap();
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        let otlp = tmp.path().join(format!("crash-{tool}.json"));
        let o = export(&store, &[ev.to_str().unwrap(), "--out", otlp.to_str().unwrap(), "--service-name", "crash"]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("3 unfinished"), "{}", text(&o));
        let spans = otlp_spans(&otlp);
        assert_eq!(render_tree(&spans), want, "{tool}");
        check_against_events(&events(&ev), &spans, "crash");
        // An unfinished span ends at the last event inside it, never before its callees.
        let last_ts = events(&ev).iter().map(|e| e["ts_unix_nano"].as_u64().unwrap()).max().unwrap();
        let end = |name: &str| -> u64 {
            let s = spans.iter().find(|s| s["name"].as_str().unwrap().ends_with(name)).unwrap();
            s["endTimeUnixNano"].as_str().unwrap().parse().unwrap()
        };
        assert_eq!(end("main"), last_ts, "{tool}");
        assert!(end("work") == last_ts);
        proto_span_count(&otlp);
    }
}

/// Events written by a test: `calls` root calls, each with two nested callees, a loop and an
/// assignment (every value kind), the last root left open.
fn synthetic_events(path: &Path, calls: usize) -> usize {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut id = 0u64;
    let mut ts = 1_700_000_000_000_000_000u64;
    let mut spans = 0;
    let line = |f: &mut dyn Write, kind: &str, span: Option<u64>, parent: Option<u64>, extra: String, ts: u64| {
        let hex = |v: Option<u64>| v.map_or("null".into(), |v| format!("\"{v:016x}\""));
        writeln!(
            f,
            r#"{{"ts_unix_nano":{ts},"kind":"{kind}","span_id":{},"parent_span_id":{},"thread":"main","pid":4242,"code.function.name":"fn{}","code.file.path":"src/a \"b\".js","code.line.number":{}{extra}}}"#,
            hex(span),
            hex(parent),
            span.unwrap_or(0) % 3,
            span.unwrap_or(0) % 100
        )
        .unwrap();
    };
    for c in 0..calls {
        id += 1;
        let root = id;
        ts += 10;
        line(
            &mut f,
            "func_entry",
            Some(root),
            None,
            r#","args":{"s":"é\n\t\"q\"","i":-7,"f":2.5,"b":true,"n":null,"big":18446744073709551615}"#.into(),
            ts,
        );
        spans += 1;
        for _ in 0..2 {
            id += 1;
            ts += 10;
            line(&mut f, "func_entry", Some(id), Some(root), r#","args":{}"#.into(), ts);
            ts += 10;
            line(&mut f, "loop_iter", Some(id), Some(root), r#","iteration":1"#.into(), ts);
            ts += 10;
            line(&mut f, "var_assign", Some(id), Some(root), r#","variable":"v","value":[1,{"k":"x"}]"#.into(), ts);
            ts += 10;
            line(
                &mut f,
                "func_exit",
                Some(id),
                Some(root),
                r#","duration_ns":30,"results":["<Array len=2>"]"#.into(),
                ts,
            );
            spans += 1;
        }
        ts += 10;
        if c + 1 < calls {
            line(
                &mut f,
                "func_exit",
                Some(root),
                None,
                r#","duration_ns":70,"results":[],"error":"TypeError: x is \"undefined\"""#.into(),
                ts,
            );
        }
    }
    spans
}

#[test]
fn output_parses_with_the_official_definitions_and_stdout_is_the_default() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ev = tmp.path().join("events.jsonl");
    let n = synthetic_events(&ev, 40);
    let otlp = tmp.path().join("otlp.json");
    let o = export(&store, &[ev.to_str().unwrap(), "--out", otlp.to_str().unwrap(), "--batch-size", "7"]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("exported {n} spans (1 unfinished, 39 with errors)")), "{err}");
    let spans = otlp_spans(&otlp);
    assert_eq!(spans.len(), n);
    assert_eq!(std::fs::read_to_string(&otlp).unwrap().lines().count(), n.div_ceil(7), "7 spans a line");
    if let Some(count) = proto_span_count(&otlp) {
        assert_eq!(count, n);
    }
    let root = spans.iter().find(|s| s["parentSpanId"].is_null() && s["status"]["code"] == 2).unwrap();
    assert_eq!(root["status"]["message"], "TypeError: x is \"undefined\"");
    let a = &root["attributes"];
    assert_eq!(attr(a, "teleforge.args.s").unwrap()["stringValue"], "é\n\t\"q\"");
    assert_eq!(attr(a, "teleforge.args.i").unwrap()["intValue"], "-7");
    assert_eq!(attr(a, "teleforge.args.f").unwrap()["doubleValue"], 2.5);
    assert_eq!(attr(a, "teleforge.args.b").unwrap()["boolValue"], true);
    assert_eq!(attr(a, "teleforge.args.n").unwrap(), &serde_json::json!({}));
    assert_eq!(attr(a, "teleforge.args.big").unwrap()["stringValue"], "18446744073709551615");
    assert_eq!(
        attr(&root["resource"], "service.name").unwrap()["stringValue"],
        tmp.path().file_name().unwrap().to_str().unwrap()
    );

    // Without --out or --endpoint the same requests go to stdout.
    let o = export(&store, &[ev.to_str().unwrap(), "--batch-size", "7", "--service-name", "svc"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let from_stdout = otlp_spans_of(&out);
    assert_eq!(from_stdout.len(), n);
    assert_eq!(attr(&from_stdout[0]["resource"], "service.name").unwrap()["stringValue"], "svc");
    // Deterministic: the same file gives the same ids.
    let ids = |v: &[Value]| v.iter().map(|s| (s["traceId"].clone(), s["spanId"].clone())).collect::<Vec<_>>();
    assert_eq!(ids(&from_stdout), ids(&spans));
}

#[test]
fn malformed_lines_stop_with_file_and_line_or_are_skipped_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ev = tmp.path().join("events.jsonl");
    synthetic_events(&ev, 3);
    let mut text_in = std::fs::read_to_string(&ev).unwrap();
    text_in.insert_str(text_in.find('\n').unwrap() + 1, "{\"ts_unix_nano\": \"soon\"}\n");
    std::fs::write(&ev, text_in).unwrap();
    let otlp = tmp.path().join("otlp.json");
    let o = export(&store, &[ev.to_str().unwrap(), "--out", otlp.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(65), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("events.jsonl:2: not a Tel event"), "{err}");
    assert_eq!(err.lines().count(), 1, "one error line: {err}");
    assert!(!otlp.exists(), "a failed export writes nothing");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("otlp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left: {leftovers:?}");

    let o = export(&store, &[ev.to_str().unwrap(), "--out", otlp.to_str().unwrap(), "--skip-malformed"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("left out 1 malformed lines (first: "), "{}", text(&o));
    assert_eq!(otlp_spans(&otlp).len(), 9);

    let o = export(&store, &[tmp.path().join("missing.jsonl").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(66), "{}", text(&o));
    let nowhere = tmp.path().join("no/such/dir/otlp.json");
    let o = export(&store, &[ev.to_str().unwrap(), "--out", nowhere.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(74), "an output that cannot be written: {}", text(&o));
    let o = export(&store, &[ev.to_str().unwrap(), "--endpoint", "localhost:4318"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = export(&store, &[ev.to_str().unwrap(), "--endpoint", "http://127.0.0.1:9", "--out", "x"]);
    assert_eq!(o.status.code(), Some(2), "--out and --endpoint exclude each other: {}", text(&o));
}

/// A tiny OTLP/HTTP receiver: answers `statuses` in order (then 200), keeps the bodies it
/// accepted with their path and content type.
/// (path, content type, body) of each accepted request.
type Accepted = Arc<Mutex<Vec<(String, String, String)>>>;

fn receiver(statuses: Vec<u16>) -> (String, Accepted, Arc<Mutex<u32>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(Mutex::new(0u32));
    let (acc, reqs) = (accepted.clone(), requests.clone());
    let statuses = Arc::new(Mutex::new(statuses.into_iter()));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (acc, reqs, statuses) = (acc.clone(), reqs.clone(), statuses.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut headers = BTreeMap::new();
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap();
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                    let len: usize = headers.get("content-length").map_or(0, |v| v.parse().unwrap());
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    *reqs.lock().unwrap() += 1;
                    let status = statuses.lock().unwrap().next().unwrap_or(200);
                    let reply = if status == 200 {
                        let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
                        let ct = headers.get("content-type").cloned().unwrap_or_default();
                        acc.lock().unwrap().push((path, ct, String::from_utf8(body).unwrap()));
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".to_string()
                    } else {
                        format!("HTTP/1.1 {status} Unavailable\r\nContent-Length: 0\r\n\r\n")
                    };
                    if conn.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, accepted, requests)
}

#[test]
fn an_otlp_http_receiver_gets_every_span_once_after_a_503() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ev = tmp.path().join("events.jsonl");
    let n = synthetic_events(&ev, 50);
    let (url, accepted, requests) = receiver(vec![503, 200, 503]);
    let o =
        export(&store, &[ev.to_str().unwrap(), "--endpoint", &url, "--batch-size", "16", "--header", "x-token=abc"]);
    assert!(o.status.success(), "{}", text(&o));
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), n.div_ceil(16), "one accepted request per batch");
    assert_eq!(*requests.lock().unwrap() as usize, accepted.len() + 2, "each 503 was retried");
    let mut seen = HashMap::new();
    for (path, ct, body) in &accepted {
        assert_eq!(path, "/v1/traces");
        assert_eq!(ct, "application/json");
        for s in otlp_spans_of(body) {
            *seen.entry(s["spanId"].as_str().unwrap().to_string()).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), n, "every span arrived");
    assert!(seen.values().all(|&c| c == 1), "no span arrived twice");
    let expected: HashSet<String> = events(&ev)
        .iter()
        .filter(|e| e["kind"] == "func_entry")
        .map(|e| e["span_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen.keys().cloned().collect::<HashSet<_>>(), expected);
    if have_python_module("opentelemetry.proto.collector.trace.v1.trace_service_pb2") {
        let bodies = tmp.path().join("bodies.json");
        std::fs::write(&bodies, accepted.iter().map(|(_, _, b)| format!("{b}\n")).collect::<String>()).unwrap();
        assert_eq!(proto_span_count(&bodies), Some(n));
    }
}

#[test]
fn an_endpoint_that_stays_down_fails_with_69_and_a_malformed_file_sends_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ev = tmp.path().join("events.jsonl");
    synthetic_events(&ev, 5);
    let (url, accepted, requests) = receiver(vec![503; 100]);
    let o = export(&store, &[ev.to_str().unwrap(), "--endpoint", &url, "--retries", "2"]);
    assert_eq!(o.status.code(), Some(69), "{}", text(&o));
    assert!(text(&o).contains("unavailable after 3 attempts"), "{}", text(&o));
    assert_eq!(*requests.lock().unwrap(), 3);
    assert!(accepted.lock().unwrap().is_empty());

    let (url, accepted, requests) = receiver(vec![]);
    std::fs::write(&ev, std::fs::read_to_string(&ev).unwrap() + "not json\n").unwrap();
    let o = export(&store, &[ev.to_str().unwrap(), "--endpoint", &url]);
    assert_eq!(o.status.code(), Some(65), "{}", text(&o));
    assert_eq!(*requests.lock().unwrap(), 0, "checked before the first request");
    assert!(accepted.lock().unwrap().is_empty());
}

/// A forked child's calls keep their caller in the parent process: one trace, two resources.
#[test]
fn a_forked_childs_calls_stay_in_their_callers_trace() {
    if !have("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let src = tmp.path().join("fork");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("main.py"),
        "import os\n\n\ndef child_work(n):\n    return n * 2\n\n\ndef main():\n    pid = os.fork()\n    if pid == 0:\n        child_work(1)\n        os._exit(0)\n    os.waitpid(pid, 0)\n    child_work(2)\n\n\nmain()\n",
    )
    .unwrap();
    let out = tmp.path().join("fork-out");
    let o = tf(&store, &["instrument", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let ev = out.join("events.jsonl");
    run_ok(Command::new("python3").arg("main.py").current_dir(&out).env("TELEMETRY_FILE", &ev));
    let otlp = tmp.path().join("otlp.json");
    let o = export(&store, &[ev.to_str().unwrap(), "--out", otlp.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let spans = otlp_spans(&otlp);
    assert_eq!(render_tree(&spans), "main.main\n  main.child_work ×2\n");
    check_against_events(&events(&ev), &spans, "fork-out");
    let pids: HashSet<String> =
        spans.iter().map(|s| attr(&s["resource"], "process.pid").unwrap()["intValue"].to_string()).collect();
    assert_eq!(pids.len(), 2, "the child's call is under the child's resource");
}

/// The reader the collector itself uses: `ptrace.JSONUnmarshaler` of
/// `go.opentelemetry.io/collector/pdata` (what its `otlpjsonfile` receiver, and Jaeger v2, which is
/// built on the collector, decode OTLP/JSON with), at a pinned version from the Go module proxy.
/// The download skips locally and fails in CI when it cannot be made.
const PDATA: &str = "v1.20.0";
const PDATA_READER: &str = r#"package main

import (
	"bufio"
	"fmt"
	"os"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4<<20), 4<<20)
	u := &ptrace.JSONUnmarshaler{}
	spans, errors, withParent := 0, 0, 0
	for line := 1; sc.Scan(); line++ {
		t, err := u.UnmarshalTraces(sc.Bytes())
		if err != nil {
			fmt.Fprintf(os.Stderr, "line %d: %v\n", line, err)
			os.Exit(1)
		}
		rs := t.ResourceSpans()
		for i := 0; i < rs.Len(); i++ {
			ss := rs.At(i).ScopeSpans()
			for j := 0; j < ss.Len(); j++ {
				sp := ss.At(j).Spans()
				for k := 0; k < sp.Len(); k++ {
					s := sp.At(k)
					if s.TraceID().IsEmpty() || s.SpanID().IsEmpty() || s.EndTimestamp() < s.StartTimestamp() {
						fmt.Fprintf(os.Stderr, "line %d: bad span %s\n", line, s.Name())
						os.Exit(1)
					}
					if !s.ParentSpanID().IsEmpty() {
						withParent++
					}
					if s.Status().Code() == ptrace.StatusCodeError {
						errors++
					}
					spans++
				}
			}
		}
	}
	fmt.Println(spans, errors, withParent)
}
"#;

#[test]
fn the_collectors_own_otlp_json_reader_accepts_the_output() {
    if !have("go") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ev = tmp.path().join("events.jsonl");
    let n = synthetic_events(&ev, 30);
    let otlp = tmp.path().join("otlp.json");
    let o = export(&store, &[ev.to_str().unwrap(), "--out", otlp.to_str().unwrap(), "--batch-size", "11"]);
    assert!(o.status.success(), "{}", text(&o));

    let reader = tmp.path().join("reader");
    std::fs::create_dir_all(&reader).unwrap();
    std::fs::write(
        reader.join("go.mod"),
        format!("module pdatacheck\n\ngo 1.22\n\nrequire go.opentelemetry.io/collector/pdata {PDATA}\n"),
    )
    .unwrap();
    std::fs::write(reader.join("main.go"), PDATA_READER).unwrap();
    let go = |args: &[&str]| {
        Command::new("go")
            .args(args)
            .current_dir(&reader)
            .env("GOFLAGS", "-mod=mod")
            .env("GOTOOLCHAIN", "local")
            .env("GOWORK", "off")
            .output()
            .unwrap()
    };
    let tidy = go(&["mod", "tidy"]);
    if !tidy.status.success() {
        assert!(
            std::env::var_os("CI").is_none(),
            "downloading go.opentelemetry.io/collector/pdata {PDATA} failed in CI:\n{}",
            text(&tidy)
        );
        eprintln!("skipping: downloading go.opentelemetry.io/collector/pdata failed:\n{}", text(&tidy));
        return;
    }
    let o = go(&["run", ".", otlp.to_str().unwrap()]);
    assert!(o.status.success(), "the collector's reader refused the output:\n{}", text(&o));
    let counts: Vec<usize> =
        String::from_utf8_lossy(&o.stdout).split_whitespace().map(|w| w.parse().unwrap()).collect();
    assert_eq!(counts, [n, 29, n - 30], "spans, spans with status ERROR, spans with a parent");
}

/// A span with what must agree between a runtime's own OTLP export and `telemetry export` of the
/// same run's events file: everything but the trace id (each side makes its own; the grouping into
/// traces is compared apart) and the end of an unfinished span (a runtime ends it at exit, the
/// file export at the last thing seen inside it). Attributes become maps (order is free).
fn comparable(s: &Value) -> Value {
    fn attrs(list: &Value) -> Value {
        let map: BTreeMap<String, Value> = list
            .as_array()
            .map(|a| a.iter().map(|kv| (kv["key"].as_str().unwrap().to_string(), kv["value"].clone())).collect())
            .unwrap_or_default();
        serde_json::to_value(map).unwrap()
    }
    let mut s = s.clone();
    let unfinished = attr(&s["attributes"], "teleforge.unfinished").is_some();
    let o = s.as_object_mut().unwrap();
    o.remove("traceId");
    if unfinished {
        o.remove("endTimeUnixNano");
    }
    for key in ["attributes", "resource"] {
        if let Some(v) = o.get(key).cloned() {
            o.insert(key.into(), attrs(&v));
        }
    }
    if let Some(evs) = o.get_mut("events").and_then(Value::as_array_mut) {
        for e in evs.iter_mut() {
            let a = attrs(&e["attributes"]);
            e["attributes"] = a;
        }
    }
    s
}

/// Runs an instrumented example with `TELEMETRY_FILE` and an OTLP endpoint both set, and checks
/// that what the runtime sent is, span for span, what `telemetry export` makes of the file.
fn runtime_export_equals_the_file_export(example_rel: &str, run: impl Fn(&Path, &Path, &str) -> Command) {
    let tmp = tempfile::tempdir().unwrap();
    let (url, accepted, _) = receiver(vec![]);
    let name = Path::new(example_rel).file_name().unwrap().to_str().unwrap().to_string();
    let (_, from_file, _) = instrument_run_export(tmp.path(), &example(example_rel), |dir, ev| {
        let mut c = run(dir, ev, &url);
        c.env("TELEMETRY_FILE", ev).env("OTEL_SERVICE_NAME", &name);
        run_ok(&mut c);
    });
    let mut direct = Vec::new();
    for (path, ct, body) in accepted.lock().unwrap().iter() {
        assert_eq!((path.as_str(), ct.as_str()), ("/v1/traces", "application/json"));
        direct.extend(otlp_spans_of(body));
    }
    assert_eq!(render_tree(&direct), render_tree(&from_file), "the runtime's own export has the file's call tree");
    let by_id = |spans: &[Value]| -> BTreeMap<String, Value> {
        spans.iter().map(|s| (s["spanId"].as_str().unwrap().to_string(), comparable(s))).collect()
    };
    let (a, b) = (by_id(&direct), by_id(&from_file));
    assert_eq!(a.len(), direct.len(), "no span arrived twice");
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "the same spans");
    for (id, s) in &a {
        assert_eq!(s, &b[id], "span {id}: runtime export (left) and file export (right) differ");
    }
    // One trace per root call on both sides: the same partition of spans into traces.
    let partition = |spans: &[Value]| -> Vec<Vec<String>> {
        let mut traces: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in spans {
            traces
                .entry(s["traceId"].as_str().unwrap().to_string())
                .or_default()
                .push(s["spanId"].as_str().unwrap().into());
        }
        let mut p: Vec<Vec<String>> = traces
            .into_values()
            .map(|mut v| {
                v.sort();
                v
            })
            .collect();
        p.sort();
        p
    };
    assert_eq!(partition(&direct), partition(&from_file));
}

#[test]
fn go_runtime_export_equals_the_file_export() {
    if !have("go") {
        return;
    }
    // The exporter is compiled only with the build tag (it needs net/http).
    runtime_export_equals_the_file_export("golang/telemetry_demo", |dir, _, url| {
        let mut c = Command::new("go");
        c.args(["run", "-tags", "teleforge_otlp", "."]).current_dir(dir).env("GOFLAGS", "-mod=mod");
        c.env("OTEL_EXPORTER_OTLP_ENDPOINT", url);
        c
    });
}

#[test]
fn python_runtime_export_equals_the_file_export() {
    if !have("python3") {
        return;
    }
    runtime_export_equals_the_file_export("python/bookshop", |dir, _, url| {
        let mut c = Command::new("python3");
        c.arg("main.py").current_dir(dir).env("PYTHONDONTWRITEBYTECODE", "1").env("OTEL_EXPORTER_OTLP_ENDPOINT", url);
        c
    });
}

#[test]
fn javascript_runtime_export_equals_the_file_export() {
    if !have("node") {
        return;
    }
    runtime_export_equals_the_file_export("javascript/shop", |dir, _, url| {
        let mut c = Command::new("node");
        c.arg("main.js").current_dir(dir).env("OTEL_EXPORTER_OTLP_ENDPOINT", url);
        c
    });
}
