//! LLM generation benchmark: the LLM generator against the template generator on real trees, with a
//! scripted model served on 127.0.0.1 that has a real output limit and context window.
//!
//! ```text
//! cargo bench -p teleforge-instrument --bench llm
//! TELEFORGE_BENCH_QUICK=1 cargo bench -p teleforge-instrument --bench llm
//! ```
//!
//! Per tree, three runs of the library (`teleforge_instrument::instrument_with`), each with a fresh
//! learning store, validation on, `--max-attempts 3`, output to a temporary folder:
//!
//! | run | generator |
//! | --- | --- |
//! | `template` | `Generator::Template` |
//! | `llm x1` | `Generator::Llm`, 1 request in flight |
//! | `llm x4` | `Generator::Llm`, 4 requests in flight |
//!
//! The LLM runs use `LlmOptions { output_tokens: 4096, context_tokens: 16384, concurrency }` and a
//! fresh scripted server each (its prompt cache starts empty). Go runs each start from a copy of
//! the build cache as one plain `go build ./...` of the original left it (temporary GOCACHE):
//! otherwise the second LLM run would find every package the first one compiled (the same
//! snippets) in the cache, and its wall time would measure the cache, not the requests in flight.
//!
//! # The scripted model
//!
//! A `std::net::TcpListener` speaking the OpenAI chat-completions wire format. Per request it:
//!
//! - counts tokens as 4 bytes each (system message + user message), and answers HTTP 400 with
//!   "maximum context length" when prompt + `max_tokens` exceed its window (16,384 tokens);
//! - reads the prompt the way a competent model would: the file path (`File: …`), and per
//!   construct its id, kind, function name, line and code; it writes one runtime call per
//!   construct, with the function's parameters (parsed from the signature in the code: Python
//!   `def`, Go `func` with receivers, type parameters and grouped names, JavaScript functions,
//!   methods and arrows) for functions, the iteration for loops, and the first assigned name for
//!   assignments; on a retry (the prompt shows its previous snippet and diagnostics) it writes the
//!   call without the values (what a model would drop after a type error);
//! - answers `{"snippets": [{"id", "code", "fix"}]}`; if that answer is longer than the request's
//!   `max_tokens`, it sends its first `max_tokens` tokens with `finish_reason: "length"`;
//! - reports `usage` with `prompt_tokens_details.cached_tokens`: automatic prefix caching as
//!   vLLM does it, in blocks of 16 tokens (64 bytes) hashed as a chain, so a block is cached when
//!   it and everything before it appeared in an earlier prompt (no eviction);
//! - takes 20 ms plus 20 µs per output token to answer (a scaled-down model: real ones are
//!   100–1,000× slower, which only makes the in-flight comparison more lopsided).
//!
//! The bench checks the summary's request and token counts against what the server saw.
//!
//! Trees (full): the Python standard library's top-level modules plus `json`, `email` and `asyncio`
//! (the subset the instrument bench validates; the whole stdlib takes too long with validation on
//! three times), `golang.org/x/text@v0.21.0` from the module proxy into a temporary GOMODCACHE,
//! lodash 4.17.21 from `npm pack`. Quick (`TELEFORGE_BENCH_QUICK=1`): the stdlib's `json`
//! package, `golang.org/x/sync@v0.10.0`, `mime@1.6.0`. `TELEFORGE_BENCH_LANGUAGES=python,go,javascript`
//! picks languages. Progress goes to stderr, tables to stdout.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
mod trees;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use teleforge_instrument::generate::llm::{LlmGenerator, LlmOptions, LlmStats};
use teleforge_instrument::pipeline::Generator;
use teleforge_instrument::{DiscoverOptions, InstrumentOptions, LearningOptions, OutputMode, Progress, Summary};
use teleforge_learning::LearningEngine;
use teleforge_llm::{Protocol, Provider, ProviderConfig};
use trees::{command_output, copy_dir, copy_file, download_go_module, npm_pack, Cleanup};

const GO_MODULE_FULL: &str = "golang.org/x/text@v0.21.0";
const GO_MODULE_QUICK: &str = "golang.org/x/sync@v0.10.0";
const NPM_FULL: &str = "lodash@4.17.21";
const NPM_QUICK: &str = "mime@1.6.0";
const PY_PACKAGES: &[&str] = &["json", "email", "asyncio"];
const PY_QUICK_PACKAGES: &[&str] = &["json"];
const MAX_ATTEMPTS: u32 = 3;
const OUTPUT_TOKENS: u32 = 4096;
const CONTEXT_TOKENS: u64 = 16_384;
const BYTES_PER_TOKEN: usize = 4;
/// Prefix-cache block, in tokens (vLLM's default).
const CACHE_BLOCK_TOKENS: usize = 16;
const LATENCY_BASE: Duration = Duration::from_millis(20);
const LATENCY_PER_OUTPUT_TOKEN: Duration = Duration::from_micros(20);

// ---------------------------------------------------------------------------------------------
// The scripted model

/// What the server saw.
#[derive(Default, Debug, Clone)]
struct Seen {
    posts: u64,
    answered: u64,
    rejected_for_context: u64,
    cut: u64,
    input_tokens: u64,
    output_tokens: u64,
    cached_tokens: u64,
    max_prompt_tokens: u64,
    in_flight: u64,
    max_in_flight: u64,
    /// Construct ids asked, counting repeats (a retry round or a cut answer asks again).
    constructs_asked: u64,
    /// Of those, asked with a previous snippet (retries after failed validation).
    retries_asked: u64,
    /// Snippets written without values because the code gave no parameters/target to read.
    bare_snippets: u64,
    /// The first lines of the code of the first few of those.
    bare_examples: Vec<String>,
    /// Time spent answering, summed over requests (what one request at a time would wait).
    busy: Duration,
}

struct Server {
    seen: Mutex<Seen>,
    /// Chain hashes of every prompt block seen so far.
    cache: Mutex<HashSet<u64>>,
}

fn tokens(bytes: usize) -> u64 {
    bytes.div_ceil(BYTES_PER_TOKEN) as u64
}

/// Starts a scripted server; its base URL and what it saw.
fn serve() -> (String, Arc<Server>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1");
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Server { seen: Mutex::new(Seen::default()), cache: Mutex::new(HashSet::new()) });
    let s = server.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let s = s.clone();
            std::thread::spawn(move || handle(stream, &s));
        }
    });
    (format!("http://{addr}/v1"), server)
}

fn handle(mut stream: TcpStream, server: &Server) {
    let Ok(clone) = stream.try_clone() else { return };
    let mut reader = BufReader::new(clone);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut length = 0;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() {
            return;
        }
        if h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let (status, answer) = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(req) => respond(server, &req),
        Err(e) => (400, serde_json::json!({ "error": { "message": format!("bad JSON: {e}") } }).to_string()),
    };
    let out = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{answer}",
        answer.len()
    );
    let _ = stream.write_all(out.as_bytes());
}

/// Cached tokens of `prompt`: whole blocks whose chain hash an earlier prompt had; records its own.
fn prefix_cache(server: &Server, prompt: &str) -> u64 {
    let block = CACHE_BLOCK_TOKENS * BYTES_PER_TOKEN;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut hashes = Vec::with_capacity(prompt.len() / block);
    for chunk in prompt.as_bytes().chunks_exact(block) {
        chunk.hash(&mut h);
        hashes.push(h.finish());
    }
    let mut cache = server.cache.lock().unwrap();
    let hit = hashes.iter().take_while(|x| cache.contains(x)).count();
    cache.extend(hashes);
    (hit * CACHE_BLOCK_TOKENS) as u64
}

fn respond(server: &Server, req: &serde_json::Value) -> (u16, String) {
    let messages = req["messages"].as_array().cloned().unwrap_or_default();
    let system = messages.first().and_then(|m| m["content"].as_str()).unwrap_or("").to_string();
    let user = messages.get(1).and_then(|m| m["content"].as_str()).unwrap_or("").to_string();
    let prompt = format!("{system}{user}");
    let max_tokens = req["max_tokens"].as_u64().unwrap_or(u64::from(OUTPUT_TOKENS));
    let prompt_tokens = tokens(prompt.len());
    {
        let mut s = server.seen.lock().unwrap();
        s.posts += 1;
        if prompt_tokens + max_tokens > CONTEXT_TOKENS {
            s.rejected_for_context += 1;
            let msg = format!(
                "This model's maximum context length is {CONTEXT_TOKENS} tokens. However, you requested {} tokens \
                 ({prompt_tokens} in the messages, {max_tokens} in the completion).",
                prompt_tokens + max_tokens
            );
            return (
                400,
                serde_json::json!({ "error": { "message": msg, "code": "context_length_exceeded" } }).to_string(),
            );
        }
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        s.max_prompt_tokens = s.max_prompt_tokens.max(prompt_tokens);
    }
    let cached = prefix_cache(server, &prompt);
    let model = read_prompt(&system, &user);
    let full = serde_json::json!({ "snippets": model.snippets }).to_string();
    let limit = usize::try_from(max_tokens).unwrap_or(usize::MAX).saturating_mul(BYTES_PER_TOKEN);
    let (text, cut) = if full.len() > limit {
        let mut end = limit;
        while !full.is_char_boundary(end) {
            end -= 1;
        }
        (full[..end].to_string(), true)
    } else {
        (full, false)
    };
    let output_tokens = tokens(text.len());
    let latency = LATENCY_BASE + LATENCY_PER_OUTPUT_TOKEN * output_tokens as u32;
    std::thread::sleep(latency);
    {
        let mut s = server.seen.lock().unwrap();
        s.in_flight -= 1;
        s.answered += 1;
        s.cut += u64::from(cut);
        s.input_tokens += prompt_tokens;
        s.output_tokens += output_tokens;
        s.cached_tokens += cached;
        s.constructs_asked += model.asked;
        s.retries_asked += model.retries;
        s.bare_snippets += model.bare;
        let room = 5usize.saturating_sub(s.bare_examples.len());
        s.bare_examples.extend(model.bare_examples.into_iter().take(room));
        s.busy += latency;
    }
    let body = serde_json::json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "model": "scripted",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": text },
                      "finish_reason": if cut { "length" } else { "stop" } }],
        "usage": { "prompt_tokens": prompt_tokens, "completion_tokens": output_tokens,
                   "total_tokens": prompt_tokens + output_tokens,
                   "prompt_tokens_details": { "cached_tokens": cached } }
    });
    (200, body.to_string())
}

struct Answer {
    snippets: Vec<serde_json::Value>,
    asked: u64,
    retries: u64,
    bare: u64,
    bare_examples: Vec<String>,
}

/// Reads the prompt as a model would and writes one snippet per construct id.
fn read_prompt(system: &str, user: &str) -> Answer {
    let language = system
        .strip_prefix("You add telemetry to ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("")
        .to_string();
    let file = user.strip_prefix("File: ").and_then(|r| r.lines().next()).unwrap_or("").to_string();
    let mut answer = Answer { snippets: Vec::new(), asked: 0, retries: 0, bare: 0, bare_examples: Vec::new() };
    let Some(start) = user.find("Constructs:\n\n- id: ") else { return answer };
    for block in user[start..].split("\n- id: ").skip(1) {
        let Some(id) = block.split_whitespace().next() else { continue };
        let Some(kind_line) = block.lines().find_map(|l| l.trim_start().strip_prefix("kind: ")) else { continue };
        let (kind, rest) = kind_line.split_once(' ').unwrap_or((kind_line, ""));
        let (name, line) = match rest.rsplit_once(" (line ") {
            Some((n, l)) => (n.to_string(), l.trim_end_matches(')').to_string()),
            None => (rest.to_string(), "0".to_string()),
        };
        let code = fenced_code(block);
        let retry = block.contains("\n  previous snippet (failed validation):");
        answer.asked += 1;
        answer.retries += u64::from(retry);
        let site = format!("{}, {}, {}", lit(&name), lit(&file), line.parse::<u64>().unwrap_or(0));
        let (snip, bare) = snippet(&language, kind, &site, &code, retry);
        answer.bare += u64::from(bare);
        if bare {
            answer.bare_examples.push(format!("{kind} {}", code.lines().next().unwrap_or("")));
        }
        let fix = if retry { "recorded the call without values" } else { "" };
        answer.snippets.push(serde_json::json!({ "id": id, "code": snip, "fix": fix }));
    }
    answer
}

/// The code of a construct block: between the fence after `code:` and its closing fence.
fn fenced_code(block: &str) -> String {
    let Some(at) = block.find("\n  code:\n") else { return String::new() };
    let rest = &block[at + "\n  code:\n".len()..];
    let Some((open, body)) = rest.split_once('\n') else { return String::new() };
    let fence: String = open.chars().take_while(|&c| c == '`').collect();
    let close = format!("\n{fence}\n");
    match body.find(&close) {
        Some(end) => body[..end].to_string(),
        None => body.to_string(),
    }
}

/// A string literal valid in Go, Python and JavaScript.
fn lit(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"?\"".into())
}

/// One snippet; `true` when it records no values although the construct has some to read.
fn snippet(language: &str, kind: &str, site: &str, code: &str, retry: bool) -> (String, bool) {
    match (language, kind) {
        ("python", "function") => {
            let params = if retry { Vec::new() } else { python_params(code) };
            let dict: Vec<String> = params.iter().map(|p| format!("{}: {p}", lit(p))).collect();
            (format!("_teleforge.func_call({site}, {{{}}})", dict.join(", ")), false)
        }
        ("python", "loop") => (format!("_teleforge.loop_iter({site})"), false),
        ("python", _) => match first_target(code, &[], true).filter(|_| !retry) {
            Some(t) => (format!("_teleforge.var_assign({site}, {}, {t})", lit(&t)), false),
            None => (format!("_teleforge.var_assign({site}, \"?\", None)"), !retry),
        },
        ("go", "function") => {
            let params = if retry { Vec::new() } else { go_params(code) };
            let kv: String = params.iter().map(|p| format!(", {}, {p}", lit(p))).collect();
            (format!("defer Tel.FuncExit(Tel.FuncEntry({site}{kv}))"), false)
        }
        ("go", "loop") => (format!("Tel.LoopIter({site})"), false),
        ("go", _) => match first_target(code, &["var"], true).filter(|_| !retry) {
            Some(t) => (format!("Tel.VarAssign({site}, {}, {t})", lit(&t)), false),
            None => (format!("Tel.VarAssign({site}, \"?\", nil)"), !retry),
        },
        ("javascript", "function") => {
            let params = if retry { Vec::new() } else { js_params(code) };
            let obj = if params.is_empty() { "{}".to_string() } else { format!("{{ {} }}", params.join(", ")) };
            (format!("__teleforgeTel.funcEntry({site}, {obj})"), false)
        }
        ("javascript", "loop") => (format!("__teleforgeTel.loopIter({site})"), false),
        ("javascript", _) => match first_target(code, &["var", "let", "const"], false).filter(|_| !retry) {
            Some(t) => (format!("__teleforgeTel.varAssign({site}, {}, {t})", lit(&t)), false),
            None => (format!("__teleforgeTel.varAssign({site}, \"?\", undefined)"), !retry),
        },
        _ => (String::new(), true),
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

/// The balanced group that opens at `text[open]` (`(` or `[`): its inside and the index after it.
fn group(text: &str, open: usize) -> Option<(&str, usize)> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text[open..].char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some((&text[open + 1..open + i], open + i + 1));
                }
            }
            _ => {}
        }
    }
    None
}

/// Top-level comma-separated items of a parameter list.
fn items(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in list.chars() {
        if let Some(q) = quote {
            cur.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Parameter names of a Python `def` (`*args` and `**kw` included, `*` and `/` not).
fn python_params(code: &str) -> Vec<String> {
    let Some(def) = code.find("def ") else { return Vec::new() };
    let Some(open) = code[def..].find('(').map(|i| def + i) else { return Vec::new() };
    let Some((list, _)) = group(code, open) else { return Vec::new() };
    let list: String = list.lines().map(|l| l.split('#').next().unwrap_or("")).collect::<Vec<_>>().join(" ");
    items(&list)
        .iter()
        .filter_map(|p| {
            let name = p.trim_start_matches('*').split([':', '=']).next().unwrap_or("").trim();
            is_ident(name).then(|| name.to_string())
        })
        .collect()
}

const GO_TYPE_WORDS: &[&str] = &["chan", "func", "map", "struct", "interface"];

/// Parameter names of a Go function or method (receiver and type parameters skipped, `_` left out).
fn go_params(code: &str) -> Vec<String> {
    let Some(rest) = code.trim_start().strip_prefix("func") else { return Vec::new() };
    let base = code.len() - rest.len();
    let after = |i: usize| i + code[i..].len() - code[i..].trim_start().len();
    let mut i = after(base);
    let list = if code[i..].starts_with('(') {
        let Some((first, end)) = group(code, i) else { return Vec::new() };
        // A receiver is followed by the method's name and its parameters.
        let j = after(end);
        let name_len: usize =
            code[j..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').map(char::len_utf8).sum();
        if name_len > 0 && code[after(j + name_len)..].starts_with('(') {
            match group(code, after(j + name_len)) {
                Some((params, _)) => params,
                None => return Vec::new(),
            }
        } else {
            first
        }
    } else {
        i += code[i..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').map(char::len_utf8).sum::<usize>();
        i = after(i);
        if code[i..].starts_with('[') {
            let Some((_, end)) = group(code, i) else { return Vec::new() };
            i = after(end);
        }
        if !code[i..].starts_with('(') {
            return Vec::new();
        }
        match group(code, i) {
            Some((params, _)) => params,
            None => return Vec::new(),
        }
    };
    let list: String = list.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join(" ");
    let items = items(&list);
    // Named parameters: the last item is `name Type`.
    let named = items.last().is_some_and(|last| {
        let mut words = last.split_whitespace();
        let first = words.next().unwrap_or("");
        words.next().is_some() && is_ident(first) && !GO_TYPE_WORDS.contains(&first)
    });
    if !named {
        return Vec::new();
    }
    items
        .iter()
        .filter_map(|p| p.split_whitespace().next())
        .filter(|n| is_ident(n) && *n != "_")
        .map(str::to_string)
        .collect()
}

/// Parameter names of a JavaScript function, method or arrow (destructured ones left out).
fn js_params(code: &str) -> Vec<String> {
    // The first `(` outside brackets, unless an arrow with one bare parameter comes first.
    let mut depth = 0i32;
    let mut open = None;
    for (i, c) in code.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '{' if depth == 0 => break,
            '(' if depth == 0 => {
                open = Some(i);
                break;
            }
            _ => {}
        }
    }
    if let Some(arrow) = code.find("=>") {
        if open.is_none_or(|o| arrow < o) {
            let before = code[..arrow].trim_end();
            let name: String = before
                .chars()
                .rev()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return if is_ident(&name) && name != "async" { vec![name] } else { Vec::new() };
        }
    }
    let Some(open) = open else { return Vec::new() };
    let Some((list, _)) = group(code, open) else { return Vec::new() };
    let list: String = list.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join(" ");
    items(&list)
        .iter()
        .filter_map(|p| {
            let name = p.trim_start_matches("...").split('=').next().unwrap_or("").trim();
            (is_ident(name) && name != "arguments" && name != "this").then(|| name.to_string())
        })
        .collect()
}

/// The first assigned name of an assignment or declaration (`a, b := …`, `var (x = 1)`,
/// `const x = …`, `x += 1`, `(a, b) = …`), after the leading `keywords`; `_` is skipped where it
/// is the blank identifier (Go, and Python by convention), not in JavaScript (lodash is `_`).
fn first_target(code: &str, keywords: &[&str], skip_blank: bool) -> Option<String> {
    let mut text = code.trim_start();
    for k in keywords {
        if let Some(r) = text.strip_prefix(k) {
            if r.starts_with(|c: char| c.is_whitespace() || c == '(') {
                text = r;
                break;
            }
        }
    }
    let mut name = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' || c == '$' {
            name.push(c);
            continue;
        }
        if !name.is_empty() {
            if !(skip_blank && name == "_") && is_ident(&name) {
                return Some(name);
            }
            name.clear();
        }
        // Separators between targets; anything else ends them.
        if !(c.is_whitespace() || matches!(c, ',' | '(' | '[' | '{' | '*')) {
            return None;
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Runs

struct Tree {
    lang: &'static str,
    label: String,
    root: PathBuf,
    /// Go: the build cache after the warm-up build, copied afresh for every run so that no run
    /// profits from the builds of the one before (identical instrumented files hit the cache).
    gocache: Option<PathBuf>,
}

struct Row {
    tree: String,
    lang: &'static str,
    run: String,
    concurrency: usize,
    s: Summary,
    llm: Option<LlmStats>,
    seen: Option<Seen>,
    wall: f64,
    /// Failed attempts captured: (subject, pattern, snippet, first error).
    failures: Vec<(String, String, String, String)>,
}

fn main() {
    self_check();
    let started = Instant::now();
    let quick = std::env::var("TELEFORGE_BENCH_QUICK").is_ok_and(|v| v == "1");
    let only: Option<Vec<String>> = std::env::var("TELEFORGE_BENCH_LANGUAGES")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect());
    let wanted = |l: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == l));
    let work = tempfile::Builder::new().prefix("teleforge-bench-llm-").tempdir().expect("creating a temp dir");
    let work = work.path().canonicalize().expect("temp dir").to_path_buf();
    let _cleanup = Cleanup(work.clone());
    eprintln!("[bench] work dir {}", work.display());

    trees::go_caches_in(&work, command_output("go", &["env", "GOFLAGS"]).trim());
    std::env::set_var("GOTOOLCHAIN", "local");
    std::env::set_var("PYTHONDONTWRITEBYTECODE", "1");

    let py_version = command_output("python3", &["--version"]).trim().to_string();
    let go_version = command_output("go", &["version"]).trim().to_string();
    let node_version = command_output("node", &["--version"]).trim().to_string();
    println!(
        "teleforge-instrument LLM generation benchmark ({}; {py_version}; {go_version}; node {node_version}; {} cores)",
        if quick { "QUICK" } else { "full" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!(
        "scripted model: OpenAI chat completions on 127.0.0.1, context {CONTEXT_TOKENS} tokens, max_tokens {OUTPUT_TOKENS}, \
         4 bytes per token, prefix cache in {CACHE_BLOCK_TOKENS}-token blocks, {} ms + {} µs per output token",
        LATENCY_BASE.as_millis(),
        LATENCY_PER_OUTPUT_TOKEN.as_micros()
    );

    let mut trees = Vec::new();
    if wanted("python") {
        let stdlib = trees::python_stdlib();
        let t = work.join("trees/py-stdlib");
        let packages = if quick { PY_QUICK_PACKAGES } else { PY_PACKAGES };
        std::fs::create_dir_all(&t).unwrap();
        if !quick {
            for e in std::fs::read_dir(&stdlib).unwrap().flatten() {
                let p = e.path();
                if p.is_file() && p.extension().is_some_and(|x| x == "py") {
                    copy_file(&p, &t.join(e.file_name()));
                }
            }
        }
        for pkg in packages {
            copy_dir(&stdlib.join(pkg), &t.join(pkg), &|p| p.file_name().is_none_or(|n| n != "__pycache__"));
        }
        let label = format!(
            "python {} stdlib: {}{}",
            py_version.trim_start_matches("Python "),
            if quick { "" } else { "top-level+" },
            packages.join(",")
        );
        trees.push(Tree { lang: "python", label, root: t, gocache: None });
    }
    if wanted("go") {
        let module = if quick { GO_MODULE_QUICK } else { GO_MODULE_FULL };
        eprintln!("[bench] downloading {module} through the module proxy");
        let t = download_go_module(module, &work);
        let w = Instant::now();
        let o = Command::new("go").args(["build", "-o", "/dev/null", "./..."]).current_dir(&t).output().expect("go");
        let err = String::from_utf8_lossy(&o.stderr);
        let first = err.lines().find(|l| !l.starts_with('#') && !l.starts_with("go: downloading")).unwrap_or("");
        println!(
            "warm-up go build ./... of {module}: {:.1} s ({})",
            w.elapsed().as_secs_f64(),
            if o.status.success() { "ok".to_string() } else { format!("fails: {first}") }
        );
        let warm = work.join("gocache-warm");
        std::fs::rename(work.join("gocache"), &warm).expect("moving the warm go build cache");
        trees.push(Tree { lang: "go", label: module.to_string(), root: t, gocache: Some(warm) });
    }
    if wanted("javascript") {
        let package = if quick { NPM_QUICK } else { NPM_FULL };
        eprintln!("[bench] npm pack {package}");
        let t = npm_pack(package, &work);
        trees.push(Tree { lang: "javascript", label: format!("npm {package}"), root: t, gocache: None });
    }

    let mut rows = Vec::new();
    for tree in &trees {
        rows.push(run(tree, &work, None));
        for c in [1, 4] {
            rows.push(run(tree, &work, Some(c)));
        }
    }
    print_table(&rows);
    let (pass, fail) = print_targets(&rows);
    print_left_out(&rows);
    let total = started.elapsed().as_secs_f64();
    println!("\ntargets: {pass} PASS, {fail} FAIL");
    println!("total runtime {total:.1} s (downloads and copies included)");
    eprintln!("[bench] done in {total:.1} s");
}

fn run(tree: &Tree, work: &Path, concurrency: Option<usize>) -> Row {
    let name = match concurrency {
        None => "template".to_string(),
        Some(c) => format!("llm x{c}"),
    };
    let tag = name.replace(' ', "-");
    let store = work.join(format!("stores/{}-{tag}", tree.lang));
    let engine = LearningEngine::open(&store).expect("opening the learning store");
    let out = work.join(format!("out-{}-{tag}", tree.lang));
    let _ = std::fs::remove_dir_all(&out);
    let opts = InstrumentOptions {
        root: tree.root.clone(),
        discover: DiscoverOptions::default(),
        validate: true,
        max_attempts: MAX_ATTEMPTS,
        output: OutputMode::Copy(out.clone()),
        validate_cmd: None,
        run_id: format!("bench-llm-{}-{tag}", tree.lang),
        learning: LearningOptions::default(),
        check_timeout: teleforge_instrument::pipeline::DEFAULT_CHECK_TIMEOUT,
        allow_dirty: false,
    };
    if let Some(warm) = &tree.gocache {
        let cache = work.join(format!("gocache-{tag}"));
        let o = Command::new("cp").arg("-a").arg(warm).arg(&cache).output().expect("cp");
        assert!(o.status.success(), "copying the go build cache: {}", String::from_utf8_lossy(&o.stderr));
        std::env::set_var("GOCACHE", &cache);
    }
    let server = concurrency.map(|_| serve());
    let generator = match (&server, concurrency) {
        (Some((url, _)), Some(c)) => {
            let mut config = ProviderConfig::new(Protocol::OpenAi, "scripted");
            config.base_url = Some(url.clone());
            config.timeout = Duration::from_secs(120);
            let options = LlmOptions {
                concurrency: c,
                output_tokens: Some(OUTPUT_TOKENS),
                context_tokens: Some(CONTEXT_TOKENS as u32),
                ..Default::default()
            };
            Some(LlmGenerator::new(Provider::new(config).expect("provider"), options))
        }
        _ => None,
    };
    let gen = match &generator {
        Some(g) => Generator::Llm(g),
        None => Generator::Template,
    };
    eprintln!("[bench] {} {name}: {}", tree.lang, tree.label);
    let t = Instant::now();
    let mut failures = Vec::new();
    let mut on_capture = |l: &teleforge_learning::Learning| {
        if !l.success {
            failures.push((
                l.context.get("subject").cloned().unwrap_or_default(),
                l.error_pattern.clone().unwrap_or_default(),
                l.generated_code.clone(),
                l.validation_errors.first().cloned().unwrap_or_default(),
            ));
        }
    };
    let s = teleforge_instrument::instrument_with(Some(&engine), &opts, gen, &mut on_capture, &mut |p| match p {
        Progress::Discovered { files, constructs } => {
            eprintln!(
                "[bench]   discovered {files} files, {constructs} constructs ({:.1} s)",
                t.elapsed().as_secs_f64()
            )
        }
        Progress::Round { language, round, constructs } => eprintln!(
            "[bench]   {language} round {round}: {constructs} constructs ({:.1} s)",
            t.elapsed().as_secs_f64()
        ),
        _ => {}
    })
    .unwrap_or_else(|e| panic!("instrument {} ({name}): {e}", tree.label));
    let wall = t.elapsed().as_secs_f64();
    let seen = server.map(|(_, s)| s.seen.lock().unwrap().clone());
    eprintln!(
        "[bench]   {name}: {} found, {} instrumented, {} left out, {} fallen back, {} not reached, {wall:.1} s",
        s.constructs_found,
        s.constructs_instrumented,
        s.left_out.len(),
        s.constructs_fallen_back,
        s.llm_not_reached
    );
    if let Some(seen) = &seen {
        eprintln!("[bench]   server saw {seen:?}");
    }
    drop(engine);
    let _ = std::fs::remove_dir_all(&out);
    if tree.gocache.is_some() {
        let _ = Command::new("chmod").arg("-R").arg("u+w").arg(work.join(format!("gocache-{tag}"))).status();
        let _ = std::fs::remove_dir_all(work.join(format!("gocache-{tag}")));
    }
    Row {
        tree: tree.label.clone(),
        lang: tree.lang,
        run: name,
        concurrency: concurrency.unwrap_or(0),
        llm: s.llm.clone(),
        s,
        seen,
        wall,
        failures,
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<10} {:<9} {:>6} {:>6} {:>4} {:>5} {:>5} {:>6} {:>5} {:>10} {:>9} {:>7} {:>7} {:>4} {:>4} {:>5} {:>7} {:>7}",
        "language",
        "run",
        "found",
        "instr.",
        "left",
        "fallb",
        "n.r.",
        "req.",
        "http",
        "input tok",
        "output",
        "cached",
        "largest",
        "cut",
        "400",
        "runs",
        "model s",
        "wall s"
    );
    for r in rows {
        let s = &r.s;
        let (req, http, input, output, cached, largest, cut) = match &r.llm {
            Some(l) => (
                l.requests.to_string(),
                l.http_attempts.to_string(),
                l.input_tokens.to_string(),
                l.output_tokens.to_string(),
                format!("{:.1}%", 100.0 * l.cached_input_tokens as f64 / l.input_tokens.max(1) as f64),
                r.seen.as_ref().map(|x| x.max_prompt_tokens).unwrap_or(0).to_string(),
                l.cut_answers.to_string(),
            ),
            None => Default::default(),
        };
        let rejected = r.seen.as_ref().map(|x| x.rejected_for_context.to_string()).unwrap_or_default();
        println!(
            "{:<10} {:<9} {:>6} {:>6} {:>4} {:>5} {:>5} {:>6} {:>5} {:>10} {:>9} {:>7} {:>7} {:>4} {:>4} {:>5} {:>7} {:>7.1}",
            r.lang,
            r.run,
            s.constructs_found,
            s.constructs_instrumented,
            s.left_out.len(),
            s.constructs_fallen_back,
            s.llm_not_reached,
            req,
            http,
            input,
            output,
            cached,
            largest,
            cut,
            rejected,
            s.compiler_runs,
            r.seen.as_ref().map(|x| format!("{:.1}", x.busy.as_secs_f64())).unwrap_or_default(),
            r.wall
        );
    }
    println!(
        "found/instr./left = constructs found, instrumented, left out; fallb = constructs that went to the template \
         forms; n.r. = of those, never answered by the model; req./http = requests and HTTP exchanges (the summary's); \
         input/output = tokens (the summary's, 4 bytes each); cached = share of input tokens the server served from a \
         repeated prefix; largest = largest prompt in tokens, as the server counted it; cut = answers cut at \
         max_tokens; 400 = prompts the server rejected as over its window; runs = compiler runs; model s = the server's answering time summed over requests; wall = the whole run."
    );
    for tree in rows.iter().map(|r| r.tree.as_str()).collect::<std::collections::BTreeSet<_>>() {
        let r = rows.iter().find(|r| r.tree == tree).unwrap();
        let skipped: Vec<String> = r.s.files_skipped.iter().map(|(why, n)| format!("{n} {why}")).collect();
        println!(
            "  {}: {tree}; {} files seen{}",
            r.lang,
            r.s.files_seen,
            if skipped.is_empty() { String::new() } else { format!(", skipped: {}", skipped.join("; ")) }
        );
    }
    println!("\nwhat the server saw:");
    for r in rows.iter().filter(|r| r.seen.is_some()) {
        let x = r.seen.as_ref().unwrap();
        println!(
            "  {} {}: {} POSTs, {} answered, {} rejected (window), {} cut; input {} (cached {}), output {}; largest prompt \
             {} tokens (+{OUTPUT_TOKENS} ≤ {CONTEXT_TOKENS}); {} in flight at most; {} construct asks ({} retries), \
             {} snippets without values",
            r.lang,
            r.run,
            x.posts,
            x.answered,
            x.rejected_for_context,
            x.cut,
            x.input_tokens,
            x.cached_tokens,
            x.output_tokens,
            x.max_prompt_tokens,
            x.max_in_flight,
            x.constructs_asked,
            x.retries_asked,
            x.bare_snippets
        );
        for e in &x.bare_examples {
            println!("      without values: {e}");
        }
    }
}

fn print_targets(rows: &[Row]) -> (usize, usize) {
    let (mut pass, mut fail) = (0, 0);
    let mut check = |ok: bool, what: String| {
        println!("{} {what}", if ok { "PASS" } else { "FAIL" });
        if ok {
            pass += 1
        } else {
            fail += 1
        }
    };
    println!();
    for r in rows.iter().filter(|r| r.llm.is_some()) {
        let (l, x, s) = (r.llm.as_ref().unwrap(), r.seen.as_ref().unwrap(), &r.s);
        let label = format!("{} {}:", r.lang, r.run);
        if let Some(t) = rows.iter().find(|t| t.lang == r.lang && t.llm.is_none()) {
            check(
                s.constructs_instrumented == t.s.constructs_instrumented,
                format!(
                    "{label} instrumented {} = template {} (found {} / {})",
                    s.constructs_instrumented, t.s.constructs_instrumented, s.constructs_found, t.s.constructs_found
                ),
            );
        }
        check(
            s.constructs_fallen_back == 0 && s.llm_not_reached == 0,
            format!("{label} fallen back {}, not reached {} (both 0)", s.constructs_fallen_back, s.llm_not_reached),
        );
        check(
            x.cut == 0 && l.cut_answers == 0,
            format!("{label} answers cut: server {}, summary {}", x.cut, l.cut_answers),
        );
        check(
            x.rejected_for_context == 0 && x.max_prompt_tokens + u64::from(OUTPUT_TOKENS) <= CONTEXT_TOKENS,
            format!(
                "{label} prompts over the window: {} rejected; largest {} + {OUTPUT_TOKENS} ≤ {CONTEXT_TOKENS}",
                x.rejected_for_context, x.max_prompt_tokens
            ),
        );
        let agree = l.requests == x.answered + x.rejected_for_context
            && l.http_attempts == x.posts
            && l.input_tokens == x.input_tokens
            && l.output_tokens == x.output_tokens
            && l.cached_input_tokens == x.cached_tokens;
        check(
            agree,
            format!(
                "{label} summary = server: requests {}/{}, http {}/{}, input {}/{}, output {}/{}, cached {}/{}",
                l.requests,
                x.answered + x.rejected_for_context,
                l.http_attempts,
                x.posts,
                l.input_tokens,
                x.input_tokens,
                l.output_tokens,
                x.output_tokens,
                l.cached_input_tokens,
                x.cached_tokens
            ),
        );
        check(
            x.max_in_flight as usize <= r.concurrency && l.max_in_flight == x.max_in_flight,
            format!(
                "{label} in flight at most {} (summary {}), limit {}",
                x.max_in_flight, l.max_in_flight, r.concurrency
            ),
        );
    }
    for lang in ["python", "go", "javascript"] {
        let one = rows.iter().find(|r| r.lang == lang && r.concurrency == 1);
        let four = rows.iter().find(|r| r.lang == lang && r.concurrency == 4);
        if let (Some(a), Some(b)) = (one, four) {
            println!("{lang}: wall time 4 in flight / 1 in flight = {:.2}", b.wall / a.wall.max(1e-9));
        }
    }
    (pass, fail)
}

fn print_left_out(rows: &[Row]) {
    for r in rows.iter().filter(|r| r.llm.is_some() && !r.failures.is_empty()) {
        println!("\nfailed attempts, {} {} ({}):", r.lang, r.run, r.failures.len());
        for (at, pattern, code, error) in r.failures.iter().take(10) {
            println!("  {at} [{pattern}] {code}\n      {}", error.lines().next().unwrap_or(""));
        }
    }
    for r in rows.iter().filter(|r| !r.s.left_out.is_empty()) {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for l in &r.s.left_out {
            let first = l.reason.lines().next().unwrap_or("").chars().take(140).collect::<String>();
            *by.entry(first).or_default() += 1;
        }
        println!("\nleft out, {} {} ({}):", r.lang, r.run, r.s.left_out.len());
        for (why, n) in by.iter().take(8) {
            println!("  {n:>4}  {why}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Trees

/// The scripted model's reading of signatures and targets, checked before every run.
fn self_check() {
    {
        assert_eq!(
            python_params("def f(self, a: int = 1, *args, b=(1, 2), **kw):\n    pass"),
            ["self", "a", "args", "b", "kw"]
        );
        assert_eq!(python_params("@d\nasync def f(a, /, *, b):"), ["a", "b"]);
        assert_eq!(go_params("func (r *T) M(a, b int, _ string, c ...any) error {"), ["a", "b", "c"]);
        assert_eq!(go_params("func F[T any, U comparable](s []T, f func(T) U) []U {"), ["s", "f"]);
        assert_eq!(go_params("func(int, chan string) {"), Vec::<String>::new());
        assert_eq!(go_params("func(x int) (y int, err error) {"), ["x"]);
        assert_eq!(js_params("function f(a, b = g(1), ...rest) {"), ["a", "b", "rest"]);
        assert_eq!(js_params("x => { f(x) }"), ["x"]);
        assert_eq!(js_params("async ({ a }, b) => {"), ["b"]);
        assert_eq!(js_params("[Symbol.iterator](n) {"), ["n"]);
        assert_eq!(first_target("a, b := f()", &["var"], true), Some("a".into()));
        assert_eq!(first_target("_, err = f()", &["var"], true), Some("err".into()));
        assert_eq!(first_target("var (\n\tx = 1\n)", &["var"], true), Some("x".into()));
        assert_eq!(first_target("const { a } = o;", &["var", "let", "const"], false), Some("a".into()));
        assert_eq!(first_target("x: int = 3", &["del"], true), Some("x".into()));
        assert_eq!(first_target("(a, b) = c", &["del"], true), Some("a".into()));
        assert_eq!(first_target("var _ = runInContext();", &["var", "let", "const"], false), Some("_".into()));
    }
}
