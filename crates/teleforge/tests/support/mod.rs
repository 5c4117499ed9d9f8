//! Helpers shared by the CLI tests that instrument real trees.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Whether `tool --version` (or `go version`) runs; a missing tool skips locally and fails in CI.
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
        || Command::new(tool).arg("version").output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "{tool} is required in CI: .ci/run must provide it");
        eprintln!("skipping: {tool} is not installed");
    }
    ok
}

/// Runs `teleforge --storage-dir store ARGS`.
pub fn tf(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_teleforge")).arg("--storage-dir").arg(store).args(args).output().unwrap()
}

/// stdout and stderr together, for failure messages.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Copies a folder recursively.
pub fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Every file below `dir` with its bytes (caches left out), sorted: trees compare byte for byte.
pub fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "__pycache__") {
                    continue;
                }
                stack.push(p);
            } else {
                out.push((p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// JSON Lines events written by a `Tel` runtime.
pub fn events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad event line {l}: {e}")))
        .collect()
}

/// Whether `python3 -c "import NAME"` works; missing skips locally and fails in CI.
pub fn have_python_module(name: &str) -> bool {
    let ok = Command::new("python3").args(["-c", &format!("import {name}")]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "python module {name} is required in CI: .ci/run must install it");
        eprintln!("skipping: python module {name} is not installed");
    }
    ok
}

/// A folder holding `node_modules` with `packages` installed from npm, once per test process.
/// `None` (the test skips) only when node or npm is missing and `CI` is unset.
pub fn node_modules_with(packages: &[&str]) -> Option<&'static Path> {
    static DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        if !have("node") || !have("npm") {
            return None;
        }
        let dir = tempfile::Builder::new().prefix("teleforge-node-modules-").tempdir().unwrap().keep();
        std::fs::write(dir.join("package.json"), r#"{"name":"tf-tools","private":true}"#).unwrap();
        let o = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .args(packages)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "npm install {packages:?} failed:\n{}", text(&o));
        Some(dir)
    })
    .as_deref()
}

/// A scratch folder whose `node_modules` is the one installed in `tools` (found by the
/// TypeScript validator walking up from the trees inside it).
pub fn scratch_with_node_modules(tools: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(tools.join("node_modules"), tmp.path().join("node_modules")).unwrap();
    tmp
}

/// `tsc -p .` in `project`, with the compiler installed in `tools`; it must succeed.
pub fn tsc(tools: &Path, project: &Path) {
    let o = Command::new("node")
        .arg(tools.join("node_modules/typescript/bin/tsc"))
        .args(["-p", "."])
        .current_dir(project)
        .output()
        .unwrap();
    assert!(o.status.success(), "tsc failed in {}:\n{}", project.display(), text(&o));
}

/// Runs `node script` in `dir` (telemetry to `events` when given) and returns its stdout.
pub fn node_run(dir: &Path, script: &str, events: Option<&Path>) -> String {
    let mut c = Command::new("node");
    c.arg(script).current_dir(dir).env_remove("TELEMETRY_FILE").env_remove("TELEMETRY_SAMPLE_FIRST");
    if let Some(e) = events {
        c.env("TELEMETRY_FILE", e);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "node {script} failed in {}:\n{}", dir.display(), text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The requests a fake model server received.
pub type Requests = std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>;

/// A fake OpenAI-compatible server (a real HTTP server on 127.0.0.1 speaking the chat
/// completions wire protocol): answers every request with `script(system, user)` and records the
/// requests. Serves until the test process ends.
pub fn fake_openai(script: fn(&str, &str) -> String) -> (String, Requests) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let log: Requests = Default::default();
    let seen = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut length = 0;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap();
                    }
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let system = req["messages"][0]["content"].as_str().unwrap_or("").to_string();
            let user = req["messages"][1]["content"].as_str().unwrap_or("").to_string();
            let answer = script(&system, &user);
            seen.lock().unwrap().push(req);
            let resp = serde_json::json!({
                "id": "chatcmpl-test", "object": "chat.completion", "model": "scripted",
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": answer }, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": system.len() / 4 + user.len() / 4, "completion_tokens": answer.len() / 4 }
            })
            .to_string();
            let _ = stream.write_all(
                format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{resp}", resp.len())
                    .as_bytes(),
            );
        }
    });
    (url, log)
}

/// `teleforge instrument SRC --out OUT --json`; it must succeed. Returns the summary.
pub fn instrument(store: &Path, src: &Path, out: &Path) -> serde_json::Value {
    let o = tf(store, &["instrument", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Every source file (as `is_source` says by name) keeps its lines: only `/*tf{*/ … /*}tf*/`
/// marked text is added, on the line it belongs to. Returns how many files changed.
pub fn assert_marked_lines_kept(src: &Path, out: &Path, is_source: fn(&str) -> bool) -> usize {
    let mut changed = 0;
    for (rel, bytes) in files(src) {
        let name = rel.to_string_lossy();
        if !is_source(&name) {
            continue;
        }
        let orig = String::from_utf8(bytes).unwrap();
        let new = std::fs::read_to_string(out.join(&rel)).unwrap();
        assert_eq!(orig.lines().count(), new.lines().count(), "{name} gained or lost lines");
        if orig != new {
            changed += 1;
            // Every original line is still on its line, with text only added to it.
            for (a, b) in orig.lines().zip(new.lines()) {
                let stripped =
                    b.split("/*tf{*/").map(|p| p.split_once("/*}tf*/").map_or(p, |(_, r)| r)).collect::<String>();
                assert_eq!(a, stripped, "{name}: a line moved or changed");
            }
        }
    }
    changed
}

/// Strip gives back the original bytes, and instrumenting the result again changes nothing.
pub fn assert_strip_and_idempotence(tmp: &Path, store: &Path, src: &Path, out: &Path) {
    let stripped = tmp.join("stripped");
    let o = tf(store, &["strip", out.to_str().unwrap(), "--out", stripped.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(files(&stripped), files(src), "instrument then strip is not the original");
    let again = tmp.join("again");
    let s = instrument(store, out, &again);
    assert_eq!(s["constructs_found"], 0, "{s}");
    assert_eq!(files(&again), files(out), "instrumenting twice changed something");
}
