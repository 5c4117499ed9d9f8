//! The LLM generator on TypeScript, end to end: the real binary, a scripted model behind a real
//! HTTP server speaking the OpenAI chat-completions wire format, and a small strict project (`.ts`
//! and `.tsx`, `strict`, `noUnusedLocals`, `noImplicitAny`, `verbatimModuleSyntax`, ...) checked
//! by its own `typescript` compiler, installed from npm into a temp folder.
//!
//! Run 1: the model's first snippets pass `ghostly`, a name of the file (an object key, so the
//! allow-list lets it through) that is no value in scope where the snippet goes: the compiler says
//! TS2304, the learning is captured as `typescript`/`ts_undefined_variable`, and the retry, which
//! sees the diagnostic, is right. After `teleforge consolidate`, run 2 carries the pattern in its
//! prompt and every snippet is right first time. Hostile TypeScript snippets (type assertions,
//! non-null assertions, type arguments, declarations, imports) never reach the compiler.
//! The tests skip only when node or npm is missing and `CI` is unset.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{
    events, fake_openai, files, node_modules_with, node_run, scratch_with_node_modules as scratch, text, tf, tsc,
};

/// The TypeScript compiler, installed once per test process.
fn typescript() -> Option<&'static Path> {
    node_modules_with(&["typescript@5"])
}

fn node_run_main(dir: &Path, events: Option<&Path>) -> String {
    node_run(dir, "dist/main.js", events)
}

/// One construct of a request: (id, kind, function name, line, retry).
struct Block {
    id: String,
    kind: String,
    name: String,
    line: String,
    retry: bool,
}

/// The constructs of a request, and the file they are in.
fn blocks(user: &str) -> (String, Vec<Block>) {
    let file =
        user.lines().find_map(|l| l.strip_prefix("File: ")).expect("every request names its file").trim().to_string();
    let mut out = Vec::new();
    for block in user.split("\n- id: ").skip(1) {
        let id = block.split_whitespace().next().unwrap().to_string();
        // "kind: function total (line 2)"
        let kind_line = block.lines().find(|l| l.trim_start().starts_with("kind:")).unwrap();
        let parts: Vec<&str> = kind_line.split_whitespace().collect();
        let line = parts[parts.len() - 1].trim_end_matches(')').to_string();
        let name = parts[2..parts.len() - 2].join(" ");
        out.push(Block { id, kind: parts[1].to_string(), name, line, retry: block.contains("previous snippet") });
    }
    (file, out)
}

/// The scripted model: its first snippets record `ghostly` (TS2304 where they go) unless the
/// learned pattern is in its prompt or it is retrying after the compiler's complaint.
fn script(system: &str, user: &str) -> String {
    let learned = system.contains("ts_undefined_variable");
    let (file, blocks) = blocks(user);
    let mut snippets = Vec::new();
    for b in blocks {
        let right = learned || b.retry;
        let (name, line) = (&b.name, &b.line);
        let code = match (b.kind.as_str(), right) {
            ("function", true) => format!("__teleforgeTel.funcEntry(\"{name}\", \"{file}\", {line})"),
            ("function", false) => {
                format!("__teleforgeTel.funcEntry(\"{name}\", \"{file}\", {line}, {{ g: ghostly }})")
            }
            ("loop", true) => format!("__teleforgeTel.loopIter(\"{name}\", \"{file}\", {line})"),
            ("loop", false) => format!("__teleforgeTel.loopIter(\"{name}\", \"{file}\", ghostly)"),
            (_, true) => format!("__teleforgeTel.varAssign(\"{name}\", \"{file}\", {line}, \"line\", {line})"),
            (_, false) => format!("__teleforgeTel.varAssign(\"{name}\", \"{file}\", {line}, \"g\", ghostly)"),
        };
        snippets.push(serde_json::json!({
            "id": b.id, "code": code, "fix": if b.retry { "Recorded only values in scope" } else { "" },
        }));
    }
    serde_json::json!({ "snippets": snippets }).to_string()
}

/// TypeScript snippets that must never reach the compiler, and the JavaScript escapes besides.
const HOSTILE: &[&str] = &[
    "(__teleforgeTel as any).funcEntry(\"f\", \"f.ts\", 1)",
    "__teleforgeTel.funcEntry!(\"f\", \"f.ts\", 1)",
    "__teleforgeTel.varAssign<any>(\"f\", \"f.ts\", 1, \"x\", 1)",
    "__teleforgeTel.loopIter(\"f\", \"f.ts\", 1 as unknown as number)",
    "__teleforgeTel.funcEntry(\"f\", \"f.ts\", 1, { s: settings! })",
    "__teleforgeTel.funcEntry(\"f\", \"f.ts\", 1, { s: <any>settings })",
    "enum E { A = require('child_process').execSync('id') }",
    "import cp = require(\"child_process\")",
    "namespace N { require('child_process').execSync('id') }",
    "declare const settings: any",
    "__teleforgeTel.loopIter(\"f\", \"f.ts\", 1); // @ts-expect-error",
    "require('child_process').execSync('id')",
];

/// Every construct gets a hostile snippet, a different one per construct and attempt.
fn hostile_script(_: &str, user: &str) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let (_, blocks) = blocks(user);
    let snippets: Vec<Value> = blocks
        .iter()
        .map(|b| {
            let i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            serde_json::json!({ "id": b.id, "code": HOSTILE[i % HOSTILE.len()] })
        })
        .collect();
    serde_json::json!({ "snippets": snippets }).to_string()
}

const TSCONFIG: &str = r#"{
  "compilerOptions": {
    "target": "es2022",
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "strict": true,
    "noUnusedLocals": true,
    "noUnusedParameters": true,
    "noImplicitAny": true,
    "noImplicitReturns": true,
    "exactOptionalPropertyTypes": true,
    "verbatimModuleSyntax": true,
    "isolatedModules": true,
    "jsx": "react",
    "jsxFactory": "h",
    "declaration": true,
    "rootDir": "src",
    "outDir": "dist"
  },
  "include": ["src"]
}
"#;

/// The project: `cart.ts` (functions, a loop, assignments, and, with `arrow`, an arrow with an
/// expression body, which has no statement slot and keeps the template forms) and `view.tsx`
/// (JSX). Each file has an object key `ghostly`, the name the scripted model's first snippets get
/// wrong.
fn write_project(dir: &Path, arrow: bool) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("package.json"), r#"{ "name": "llm-ts", "private": true, "type": "module" }"#).unwrap();
    std::fs::write(dir.join("tsconfig.json"), TSCONFIG).unwrap();
    std::fs::write(
        dir.join("src/cart.ts"),
        "export const settings = { ghostly: 0 };\n\
         export function total(xs: number[], scale: number): number {\n  let t = 0;\n  for (const x of xs) {\n    t += x * scale;\n  }\n  return t;\n}\n\
         export function label(name: string): string {\n  const upper = name.toUpperCase();\n  return upper;\n}\n\
         export const twice = (n: number): number => n * 2;\n"
            .replace("(n: number): number => n * 2;", if arrow { "(n: number): number => n * 2;" } else { "(n: number): number => { return n * 2 };" }),
    )
    .unwrap();
    std::fs::write(
        dir.join("src/view.tsx"),
        "export const theme = { ghostly: 'b' };\n\
         declare global {\n  namespace JSX {\n    type Element = string;\n    interface IntrinsicElements { [tag: string]: Record<string, unknown> }\n  }\n}\n\
         export function h(tag: string, _props: Record<string, unknown> | null, ...children: string[]): string {\n  const body = children.join('');\n  return `<${tag}>${body}</${tag}>`;\n}\n\
         export function Badge(props: { text: string }): string {\n  const inner = <b>{props.text}</b>;\n  return `[${inner}]`;\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("src/main.ts"),
        "import { total, label, twice } from './cart.js';\nimport { Badge } from './view.js';\n\
         console.log(total([1, 2, 3], 2), label('ab'), twice(4), Badge({ text: 'hi' }));\n",
    )
    .unwrap();
}

/// Constructs of the project: 10 with a statement slot (the model's), 1 without (`twice`).
const MODEL_CONSTRUCTS: u64 = 10;
const CONSTRUCTS: u64 = 11;

fn instrument(store: &Path, args: &[&str], url: &str) -> (Value, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_teleforge"))
        .arg("--storage-dir")
        .arg(store)
        .arg("instrument")
        .args(args)
        .args(["--json", "--generator", "openai", "--model", "scripted", "--base-url", url])
        .env_remove("OPENAI_API_KEY")
        .env("HOME", store) // no user config
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    (serde_json::from_slice(&o.stdout).unwrap(), text(&o))
}

fn stats(store: &Path) -> Value {
    let o = tf(store, &["stats", "--language", "typescript", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice::<Value>(&o.stdout).unwrap()[0].clone()
}

#[test]
fn typescript_run_two_succeeds_first_time_after_consolidating_run_one() {
    let Some(ts) = typescript() else { return };
    let tmp = scratch(ts);
    let store = tmp.path().join("store");
    let (url, log) = fake_openai(script);

    // Run 1: every model snippet first records `ghostly`, fails tsc with TS2304, and is right on
    // the retry; `twice` (no statement slot) gets the template forms, right first time.
    let src1 = tmp.path().join("run1");
    write_project(&src1, true);
    let out1 = tmp.path().join("out1");
    let (s1, _) = instrument(&store, &[src1.to_str().unwrap(), "--out", out1.to_str().unwrap()], &url);
    assert_eq!(s1["left_out"].as_array().unwrap().len(), 0, "{s1}");
    assert_eq!(s1["constructs_instrumented"], CONSTRUCTS, "{s1}");
    assert_eq!(s1["first_attempt_successes"], 1, "{s1}");
    assert_eq!(s1["attempts"], 2 * MODEL_CONSTRUCTS + 1, "{s1}");
    assert_eq!(s1["constructs_fallen_back"], 0, "{s1}");
    assert_eq!(s1["llm"]["requests"], 4, "one request per file per round: {s1}");
    assert_eq!(s1["llm"]["disallowed_snippets"], 0, "{s1}");
    // The original tree's compile, and one per round: the diagnostics point into the snippets.
    assert_eq!(s1["compiler_runs"], 3, "{s1}");
    assert_eq!(s1["captured_by_language"]["typescript"], 2 * MODEL_CONSTRUCTS + 1, "{s1}");

    // The retried snippets are in the output: the `.tsx` file's too (it was placed, parsed and
    // named with the TSX grammar, though the group's first file is a `.ts` one).
    let cart = std::fs::read_to_string(out1.join("src/cart.ts")).unwrap();
    assert!(cart.contains("export function total(xs: number[], scale: number): number {/*tf{*/ __teleforgeTel.funcEntry(\"total\", \"src/cart.ts\", 2);/*}tf*/"), "{cart}");
    assert!(
        cart.contains("for (const x of xs) {/*tf{*/ __teleforgeTel.loopIter(\"total\", \"src/cart.ts\", 4);/*}tf*/"),
        "{cart}"
    );
    assert!(cart.contains("__teleforgeTel.funcExit<number>(__teleforgeS0, /*}tf*/n * 2"), "the template form: {cart}");
    assert!(!cart.contains("ghostly)") && !cart.contains("g: ghostly"), "{cart}");
    let view = std::fs::read_to_string(out1.join("src/view.tsx")).unwrap();
    assert!(view.contains("const inner = <b>{props.text}</b>;/*tf{*/ __teleforgeTel.varAssign(\"Badge\", \"src/view.tsx\", 13, \"line\", 13);/*}tf*/"), "{view}");
    for rel in ["src/cart.ts", "src/view.tsx", "src/main.ts"] {
        let orig = std::fs::read_to_string(src1.join(rel)).unwrap();
        let new = std::fs::read_to_string(out1.join(rel)).unwrap();
        assert_eq!(orig.lines().count(), new.lines().count(), "{rel} gained or lost lines");
    }

    // It compiles with the project's own settings, keeps every declaration (no inferred type
    // changed), prints what the original prints, and records what the snippets say.
    tsc(ts, &src1);
    tsc(ts, &out1);
    let decls = |p: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        files(&p.join("dist")).into_iter().filter(|(f, _)| f.to_string_lossy().ends_with(".d.ts")).collect()
    };
    assert_eq!(decls(&out1), decls(&src1), "instrumentation changed an inferred type");
    let original = node_run_main(&src1, None);
    assert_eq!(original, "12 AB 8 [<b>hi</b>]\n");
    assert_eq!(node_run_main(&out1, None), original);
    let ev_path = tmp.path().join("events.jsonl");
    assert_eq!(node_run_main(&out1, Some(&ev_path)), original);
    let evs = events(&ev_path);
    let entry = |name: &str| evs.iter().any(|e| e["kind"] == "func_entry" && e["code.function.name"] == name);
    assert!(entry("total") && entry("label") && entry("h") && entry("Badge") && entry("twice"), "{evs:?}");
    assert_eq!(evs.iter().filter(|e| e["kind"] == "loop_iter").count(), 3, "{evs:?}");

    // strip gives the original back.
    let stripped = tmp.path().join("stripped");
    let o = tf(&store, &["strip", out1.to_str().unwrap(), "--out", stripped.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    for rel in ["src/cart.ts", "src/view.tsx", "src/main.ts"] {
        assert_eq!(std::fs::read(stripped.join(rel)).unwrap(), std::fs::read(src1.join(rel)).unwrap(), "{rel}");
    }

    // The failures were captured as TypeScript learnings, with the compiler's words.
    let after1 = stats(&store);
    assert_eq!(after1["error_patterns"][0], serde_json::json!(["ts_undefined_variable", MODEL_CONSTRUCTS]), "{after1}");
    assert_eq!((after1["failures"].as_u64(), after1["successes"].as_u64()), (Some(MODEL_CONSTRUCTS), Some(CONSTRUCTS)));
    let listed = tf(&store, &["learnings", "list", "--language", "typescript", "--limit", "50", "--json"]);
    let failed: Vec<Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["success"] == false)
        .collect();
    assert_eq!(failed.len() as u64, MODEL_CONSTRUCTS, "{failed:?}");
    for l in &failed {
        assert_eq!(l["language"], "typescript", "{l}");
        assert_eq!(l["generator"], "openai/scripted", "{l}");
        assert!(l["generated_code"].as_str().unwrap().contains("ghostly"), "{l}");
        let errors = l["validation_errors"].to_string();
        assert!(errors.contains("TS2304") && errors.contains("ghostly"), "{l}");
    }

    // Consolidate: the seed's command.
    let o = tf(&store, &["consolidate", "--language", "typescript"]);
    assert!(
        text(&o).contains(&format!("📋 ts_undefined_variable ({MODEL_CONSTRUCTS} occurrences, 100% success rate)")),
        "{}",
        text(&o)
    );

    // Run 2 on the same code: the prompt carries the pattern; every snippet is right at once.
    let before = log.lock().unwrap().len();
    let src2 = tmp.path().join("run2");
    write_project(&src2, true);
    let out2 = tmp.path().join("out2");
    let (s2, _) = instrument(&store, &[src2.to_str().unwrap(), "--out", out2.to_str().unwrap()], &url);
    assert_eq!(s2["constructs_instrumented"], CONSTRUCTS, "{s2}");
    assert_eq!(s2["first_attempt_successes"], CONSTRUCTS, "{s2}");
    assert_eq!(s2["attempts"], CONSTRUCTS, "{s2}");
    assert_eq!(s2["llm"]["requests"], 2, "{s2}");
    assert_eq!(s2["compiler_runs"], 2, "{s2}");
    let requests = log.lock().unwrap()[before..].to_vec();
    for r in &requests {
        let prompt = r["messages"][0]["content"].as_str().unwrap();
        assert!(prompt.starts_with("You add telemetry to typescript code"), "{prompt}");
        assert!(prompt.contains("ts_undefined_variable") && prompt.contains("DON'T (failed validation)"), "{prompt}");
        assert!(prompt.contains("no `as`, `satisfies` or `!`"), "the TypeScript API text: {prompt}");
        let user = r["messages"][1]["content"].as_str().unwrap();
        assert!(user.contains("place: one TypeScript statement"), "{user}");
    }
    let listed = tf(&store, &["learnings", "list", "--language", "typescript", "--limit", "11", "--json"]);
    let mut model = 0;
    for line in String::from_utf8_lossy(&listed.stdout).lines() {
        let l: Value = serde_json::from_str(line).unwrap();
        assert_eq!(l["attempt_number"], 1, "{l}");
        if l["generator"] == "openai/scripted" {
            model += 1;
            assert!(l["context"]["patterns"].as_str().unwrap().contains("typescript/ts_undefined_variable"), "{l}");
        }
    }
    assert_eq!(model, MODEL_CONSTRUCTS);
    tsc(ts, &out2);
    assert_eq!(node_run_main(&out2, None), original);
}

/// Hostile TypeScript answers (type and non-null assertions, type arguments, `enum`,
/// `namespace`, `declare`, `import = require`, a trailing comment, a call of anything) never
/// reach the compiler or the output: each is a failed attempt (`llm_disallowed_snippet`), and
/// every construct falls back to the template forms, which the one check validates.
#[test]
fn hostile_typescript_snippets_are_rejected_before_any_compiler_run() {
    let Some(ts) = typescript() else { return };
    let tmp = scratch(ts);
    let store = tmp.path().join("store");
    let (url, log) = fake_openai(hostile_script);
    // Every construct has a statement slot here (`twice` has a block body), so every construct is
    // the model's: a compile of a template form in the model's first round would be one the
    // template path alone does not need.
    let src = tmp.path().join("src");
    write_project(&src, false);
    let (s, _) = instrument(&store, &[src.to_str().unwrap(), "--diff", "--max-attempts", "2"], &url);
    assert_eq!(log.lock().unwrap().len(), 4, "two rounds of one request per file");
    // The sources' part of the diff (the runtime file, which is in it too, requires modules).
    let diff = s["diff"].as_str().unwrap();
    let sources = &diff[diff.find("--- a/src/").expect("the sources changed")..];
    assert!(sources.contains("__teleforgeTel.funcEntry(\"Badge\", \"src/view.tsx\", 12, { props })"), "{sources}");
    for h in ["child_process", "as any", "<any>", "settings!", "@ts-expect-error", "enum E", "namespace N"] {
        assert!(!sources.contains(h), "{h} reached the output:\n{sources}");
    }
    // Nothing the model wrote was compiled: the original tree's compile, then one check of the
    // template forms the constructs fell back to, as many as the template generator needs alone.
    let offline = tf(&tmp.path().join("offline-store"), &["instrument", src.to_str().unwrap(), "--diff", "--json"]);
    assert!(offline.status.success(), "{}", text(&offline));
    let offline: Value = serde_json::from_slice(&offline.stdout).unwrap();
    assert_eq!(offline["compiler_runs"], 2, "{offline}");
    assert_eq!(s["compiler_runs"], offline["compiler_runs"], "{s}");
    assert_eq!(s["isolation_runs"], 0, "{s}");
    assert_eq!(s["constructs_fallen_back"], CONSTRUCTS, "{s}");
    assert_eq!(s["constructs_instrumented"], CONSTRUCTS, "{s}");
    assert_eq!(s["left_out"].as_array().unwrap().len(), 0, "{s}");
    assert_eq!(s["llm"]["disallowed_snippets"], 2 * CONSTRUCTS, "{s}");
    let st = stats(&store);
    assert_eq!(st["error_patterns"][0], serde_json::json!(["llm_disallowed_snippet", 2 * CONSTRUCTS]), "{st}");
    // The reasons name the type syntax, for the model's retry and the lessons.
    let listed = tf(&store, &["learnings", "list", "--language", "typescript", "--limit", "50", "--json"]);
    let errors = String::from_utf8_lossy(&listed.stdout).into_owned();
    for why in ["is a type assertion", "is a non-null assertion", "passes type arguments", "declares something"] {
        assert!(errors.contains(why), "no learning says {why:?}:\n{errors}");
    }
}
