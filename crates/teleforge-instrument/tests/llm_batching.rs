//! The LLM generator on real-sized files, against a scripted model behind a real HTTP server on
//! 127.0.0.1 that speaks the OpenAI chat-completions (and Anthropic Messages) wire format the way
//! real servers do: it counts tokens (4 bytes each, as real tokenizers roughly do for code), stops
//! its answer at `max_tokens` (or at its own lower limit) with `finish_reason: "length"`, rejects
//! prompts over its context window with HTTP 400, reports cached prefix tokens, and can answer 429
//! with `Retry-After`. It answers every construct id it is asked with a valid telemetry call.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use teleforge_instrument::generate::llm::{Ask, LlmGenerator, LlmOptions, NotReached, Outcome, Proposal};
use teleforge_instrument::language::{for_path, LanguageSupport, SourceFile};
use teleforge_instrument::Construct;
use teleforge_llm::{Protocol, Provider, ProviderConfig};

/// How the scripted model behaves.
#[derive(Clone)]
struct Model {
    protocol: Protocol,
    /// Prompt plus `max_tokens` above this is refused with 400, as real servers do.
    context: u64,
    /// The model's own output limit, below the requested `max_tokens` when set.
    hard_output_limit: Option<u64>,
    /// Answer this many first requests with 429 and `Retry-After: 0.2`.
    rate_limited: usize,
    /// Snippet for a construct `(id, kind, name, line)`; the default writes a valid call.
    snippet: fn(&str, &str, &str, &str) -> String,
    /// Answer with a refusal instead.
    refuse: bool,
    delay: Duration,
}

fn python_call(_: &str, kind: &str, name: &str, line: &str) -> String {
    match kind {
        "function" => format!("_teleforge.func_call(\"{name}\", \"big.py\", {line}, {{\"a\": a, \"b\": b}})"),
        "loop" => format!("_teleforge.loop_iter(\"{name}\", \"big.py\", {line})"),
        _ => format!("_teleforge.var_assign(\"{name}\", \"big.py\", {line}, \"v\", None)"),
    }
}

impl Model {
    fn new(protocol: Protocol, context: u64) -> Model {
        Model {
            protocol,
            context,
            hard_output_limit: None,
            rate_limited: 0,
            snippet: python_call,
            refuse: false,
            delay: Duration::from_millis(20),
        }
    }
}

/// What the server saw.
#[derive(Default, Debug)]
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
    prompts: Vec<String>,
    cache_control_blocks: u64,
}

fn tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

fn serve(model: Model) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (model, log) = (model.clone(), log.clone());
            std::thread::spawn(move || handle(stream, &model, &log));
        }
    });
    (format!("http://{addr}"), seen)
}

fn handle(mut stream: TcpStream, model: &Model, log: &Arc<Mutex<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
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
                length = v.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let (status, headers, answer) = respond(model, &req, log);
    let mut out = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nconnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n{answer}", answer.len()));
    let _ = stream.write_all(out.as_bytes());
}

/// The prompt as the model reads it (system then user), and the number of cache breakpoints.
fn prompt_of(protocol: Protocol, req: &serde_json::Value) -> (String, u64) {
    let text = |v: &serde_json::Value| -> (String, u64) {
        match v {
            serde_json::Value::String(s) => (s.clone(), 0),
            serde_json::Value::Array(blocks) => (
                blocks.iter().map(|b| b["text"].as_str().unwrap_or("")).collect(),
                blocks.iter().filter(|b| b.get("cache_control").is_some()).count() as u64,
            ),
            _ => (String::new(), 0),
        }
    };
    match protocol {
        Protocol::OpenAi => {
            let m = req["messages"].as_array().unwrap();
            (format!("{}{}", m[0]["content"].as_str().unwrap(), m[1]["content"].as_str().unwrap()), 0)
        }
        Protocol::Anthropic => {
            let (system, a) = text(&req["system"]);
            let (user, b) = text(&req["messages"][0]["content"]);
            (format!("{system}{user}"), a + b)
        }
    }
}

fn respond(model: &Model, req: &serde_json::Value, log: &Arc<Mutex<Seen>>) -> (u16, Vec<(String, String)>, String) {
    let (prompt, breakpoints) = prompt_of(model.protocol, req);
    let max_tokens = req["max_tokens"].as_u64().unwrap();
    let prompt_tokens = tokens(prompt.len());
    let cached = {
        let mut s = log.lock().unwrap();
        s.posts += 1;
        if s.posts as usize <= model.rate_limited {
            return (
                429,
                vec![("retry-after".into(), "0.2".into())],
                "{\"error\":{\"message\":\"rate limited\"}}".into(),
            );
        }
        if prompt_tokens + max_tokens > model.context {
            s.rejected_for_context += 1;
            let msg = format!(
                "This model's maximum context length is {} tokens. However, you requested {} tokens",
                model.context,
                prompt_tokens + max_tokens
            );
            return (400, vec![], serde_json::json!({ "error": { "message": msg } }).to_string());
        }
        // Prefix caching: the longest prefix shared with an earlier prompt, in whole tokens.
        let common = s
            .prompts
            .iter()
            .map(|p| p.bytes().zip(prompt.bytes()).take_while(|(a, b)| a == b).count())
            .max()
            .unwrap_or(0);
        s.prompts.push(prompt.clone());
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        s.max_prompt_tokens = s.max_prompt_tokens.max(prompt_tokens);
        s.cache_control_blocks += breakpoints;
        (common / 4) as u64
    };
    std::thread::sleep(model.delay);
    // The answer: one valid call per construct id in the prompt.
    let mut snippets = Vec::new();
    for block in prompt.split("\n- id: ").skip(1) {
        let id = block.split_whitespace().next().unwrap();
        let kind_line = block.lines().find(|l| l.trim_start().starts_with("kind:")).unwrap();
        let parts: Vec<&str> = kind_line.split_whitespace().collect();
        let (kind, name, line) = (parts[1], parts[2], parts[4].trim_end_matches(')'));
        snippets.push(serde_json::json!({ "id": id, "code": (model.snippet)(id, kind, name, line), "fix": "" }));
    }
    let full = serde_json::json!({ "snippets": snippets }).to_string();
    let limit = model.hard_output_limit.map_or(max_tokens, |h| h.min(max_tokens));
    let (text, cut) =
        if tokens(full.len()) > limit { (full[..(limit * 4) as usize].to_string(), true) } else { (full, false) };
    let output_tokens = tokens(text.len());
    let mut s = log.lock().unwrap();
    s.in_flight -= 1;
    s.answered += 1;
    s.cut += u64::from(cut);
    s.input_tokens += prompt_tokens;
    s.output_tokens += output_tokens;
    s.cached_tokens += cached;
    drop(s);
    let body = match model.protocol {
        Protocol::OpenAi => {
            let message = if model.refuse {
                serde_json::json!({ "role": "assistant", "content": null, "refusal": "I can't help with that." })
            } else {
                serde_json::json!({ "role": "assistant", "content": text })
            };
            serde_json::json!({
                "id": "chatcmpl-1", "object": "chat.completion", "model": "scripted",
                "choices": [{ "index": 0, "message": message, "finish_reason": if cut { "length" } else { "stop" } }],
                "usage": { "prompt_tokens": prompt_tokens, "completion_tokens": output_tokens,
                           "total_tokens": prompt_tokens + output_tokens,
                           "prompt_tokens_details": { "cached_tokens": cached } }
            })
        }
        Protocol::Anthropic => serde_json::json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "scripted",
            "content": [{ "type": "text", "text": text }],
            "stop_reason": if model.refuse { "refusal" } else if cut { "max_tokens" } else { "end_turn" },
            "usage": { "input_tokens": prompt_tokens - cached, "cache_read_input_tokens": cached,
                       "cache_creation_input_tokens": 0, "output_tokens": output_tokens }
        }),
    };
    (200, vec![], body.to_string())
}

/// A Python file of `n` functions, discovered by the real language module.
fn python_file(n: usize) -> (&'static dyn LanguageSupport, SourceFile, Vec<Construct>) {
    let mut text = String::from("\"\"\"A big module.\"\"\"\nimport os\nimport sys\n\n");
    for i in 0..n {
        text.push_str(&format!("def function_number_{i}(a, b):\n    return a + b + {i}\n\n"));
    }
    let lang = for_path(std::path::Path::new("big.py")).unwrap();
    let file = SourceFile { rel: "big.py".into(), text, path: None };
    let mut p = tree_sitter::Parser::new();
    p.set_language(&lang.grammar()).unwrap();
    let tree = p.parse(&file.text, None).unwrap();
    let constructs = lang.discover(&file, &tree);
    (lang, file, constructs)
}

fn asks<'a>(lang: &dyn LanguageSupport, constructs: &'a [Construct]) -> Vec<Ask<'a>> {
    constructs
        .iter()
        .enumerate()
        .map(|(i, c)| Ask { id: format!("c{i}"), construct: c, slot: lang.slot(c).unwrap(), previous: None })
        .collect()
}

fn generator(protocol: Protocol, url: &str, options: LlmOptions) -> LlmGenerator {
    let mut c = ProviderConfig::new(protocol, "scripted");
    c.base_url = Some(if protocol == Protocol::OpenAi { format!("{url}/v1") } else { url.to_string() });
    c.backoff = Duration::from_millis(10);
    c.timeout = Duration::from_secs(30);
    LlmGenerator::new(Provider::new(c).unwrap(), options)
}

fn tally(outcomes: &[Outcome]) -> BTreeMap<String, usize> {
    let mut t = BTreeMap::new();
    for o in outcomes {
        let k = match o {
            Outcome::Answered { proposal: Proposal::Snippet { .. }, .. } => "snippet".to_string(),
            Outcome::Answered { proposal: Proposal::Invalid { pattern, .. }, .. } => pattern.clone(),
            Outcome::NotReached(NotReached::Budget) => "not_reached_budget".into(),
            Outcome::NotReached(r) => format!("not_reached: {r}"),
        };
        *t.entry(k).or_insert(0) += 1;
    }
    t
}

#[test]
fn a_file_of_1000_constructs_with_a_4096_token_output_limit() {
    const CONTEXT: u64 = 16_384;
    let (url, seen) = serve(Model::new(Protocol::OpenAi, CONTEXT));
    let (lang, file, constructs) = python_file(1000);
    assert_eq!(constructs.len(), 1000);
    let options =
        LlmOptions { output_tokens: Some(4096), context_tokens: Some(CONTEXT as u32), ..LlmOptions::default() };
    let g = generator(Protocol::OpenAi, &url, options);
    let asks = asks(lang, &constructs);
    let start = std::time::Instant::now();
    let answer = g.propose_file(None, lang, &file, &asks).unwrap();
    let elapsed = start.elapsed();
    let t = tally(&answer.outcomes);
    assert_eq!(t.get("snippet"), Some(&1000), "{t:?}");
    let s = seen.lock().unwrap();
    let stats = g.stats();
    eprintln!(
        "1000 constructs: {} requests, input {} (cached {}), output {}, largest prompt {} tokens, {} in flight at most, {:?}",
        s.answered, s.input_tokens, s.cached_tokens, s.output_tokens, s.max_prompt_tokens, s.max_in_flight, elapsed
    );
    assert_eq!((s.cut, stats.cut_answers), (0, 0), "no answer cut");
    assert_eq!(s.rejected_for_context, 0, "no prompt over the context window");
    assert!(s.max_prompt_tokens + 4096 <= CONTEXT, "{}", s.max_prompt_tokens);
    // The summary's figures are the server's.
    assert_eq!(stats.requests, s.answered);
    assert_eq!(stats.http_attempts, s.posts);
    assert_eq!((stats.input_tokens, stats.output_tokens), (s.input_tokens, s.output_tokens));
    assert_eq!(stats.cached_input_tokens, s.cached_tokens);
    assert_eq!(answer.requests, s.answered);
    assert_eq!(answer.usage.input_tokens, s.input_tokens);
    // Several requests in flight, never more than asked for; the shared prefix is cached.
    assert!(s.max_in_flight > 1 && s.max_in_flight <= 4, "{}", s.max_in_flight);
    assert!(s.cached_tokens * 10 > s.input_tokens, "little of the input was a repeated prefix: {s:?}");
    assert!(s.answered >= 25, "the batches are sized to the output limit: {}", s.answered);
}

#[test]
fn every_request_of_a_file_starts_with_the_same_bytes_and_carries_only_its_constructs() {
    let (url, seen) = serve(Model::new(Protocol::OpenAi, 16_384));
    let (lang, file, constructs) = python_file(120);
    let options = LlmOptions { output_tokens: Some(2048), context_tokens: Some(16_384), ..LlmOptions::default() };
    let g = generator(Protocol::OpenAi, &url, options);
    let answer = g.propose_file(None, lang, &file, &asks(lang, &constructs)).unwrap();
    assert_eq!(tally(&answer.outcomes).get("snippet"), Some(&120));
    let s = seen.lock().unwrap();
    assert!(s.prompts.len() > 1);
    let prefix_end = s.prompts[0].find("Constructs:").unwrap();
    let prefix = &s.prompts[0][..prefix_end];
    assert!(prefix.contains("import sys"), "the file's header is shared");
    let mut ids = Vec::new();
    for p in &s.prompts {
        assert!(p.starts_with(prefix), "a request does not start with the shared prefix");
        assert!(!p.contains("function_number_119(a, b)") || p.contains("- id: c119"), "code of another batch");
        ids.extend(p.split("\n- id: ").skip(1).map(|b| b.split_whitespace().next().unwrap().to_string()));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 120, "every construct asked exactly once");
    assert_eq!(s.prompts.len() as u64, s.answered);
}

#[test]
fn cut_answers_keep_their_complete_snippets_and_ask_again_for_the_rest() {
    // The model stops at 700 tokens whatever max_tokens says: every large request is cut.
    let mut model = Model::new(Protocol::OpenAi, 32_768);
    model.hard_output_limit = Some(700);
    let (url, seen) = serve(model);
    let (lang, file, constructs) = python_file(300);
    let options = LlmOptions { output_tokens: Some(8192), context_tokens: Some(32_768), ..LlmOptions::default() };
    let g = generator(Protocol::OpenAi, &url, options);
    let answer = g.propose_file(None, lang, &file, &asks(lang, &constructs)).unwrap();
    let t = tally(&answer.outcomes);
    assert_eq!(t.get("snippet"), Some(&300), "{t:?}");
    let s = seen.lock().unwrap();
    let stats = g.stats();
    assert!(s.cut > 0 && stats.cut_answers == s.cut, "{} {}", s.cut, stats.cut_answers);
    // Complete snippets of cut answers were kept: no construct was asked more than twice.
    let mut asked: BTreeMap<String, u32> = BTreeMap::new();
    for p in &s.prompts {
        for b in p.split("\n- id: ").skip(1) {
            *asked.entry(b.split_whitespace().next().unwrap().to_string()).or_default() += 1;
        }
    }
    let repeated = asked.values().filter(|&&n| n > 1).count();
    assert!(repeated < 300, "nothing of the cut answers was kept");
    assert_eq!((stats.input_tokens, stats.output_tokens), (s.input_tokens, s.output_tokens));
}

#[test]
fn anthropic_marks_the_shared_prefix_for_caching_and_recovers_cut_answers() {
    let mut model = Model::new(Protocol::Anthropic, 200_000);
    model.hard_output_limit = Some(900);
    let (url, seen) = serve(model);
    let (lang, file, constructs) = python_file(200);
    let options = LlmOptions { output_tokens: Some(4096), context_tokens: Some(200_000), ..LlmOptions::default() };
    let g = generator(Protocol::Anthropic, &url, options);
    let answer = g.propose_file(None, lang, &file, &asks(lang, &constructs)).unwrap();
    assert_eq!(tally(&answer.outcomes).get("snippet"), Some(&200));
    let s = seen.lock().unwrap();
    let stats = g.stats();
    assert_eq!(s.cache_control_blocks, 2 * s.answered, "system and file prefix carry cache_control");
    assert!(stats.cached_input_tokens > 0 && stats.cached_input_tokens == s.cached_tokens);
    assert_eq!(stats.input_tokens, s.input_tokens, "input counts cached and uncached tokens");
    assert!(s.cut > 0);
}

#[test]
fn a_token_budget_stops_asking_and_the_rest_is_not_a_failure() {
    let (url, seen) = serve(Model::new(Protocol::OpenAi, 16_384));
    let (lang, file, constructs) = python_file(400);
    let options = LlmOptions {
        output_tokens: Some(2048),
        context_tokens: Some(16_384),
        token_budget: Some(12_000),
        concurrency: 2,
        ..LlmOptions::default()
    };
    let g = generator(Protocol::OpenAi, &url, options);
    let answer = g.propose_file(None, lang, &file, &asks(lang, &constructs)).unwrap();
    let t = tally(&answer.outcomes);
    let s = seen.lock().unwrap();
    assert!(g.budget_exhausted());
    assert!(s.input_tokens + s.output_tokens <= 12_000, "the budget was overshot: {s:?}");
    assert!(t.get("snippet").is_some_and(|&n| n > 0), "{t:?}");
    assert_eq!(t.get("snippet").unwrap() + t.get("not_reached_budget").unwrap(), 400, "{t:?}");
    assert_eq!(g.stats().not_reached, *t.get("not_reached_budget").unwrap() as u64);
}

#[test]
fn rate_limits_are_waited_out_and_counted() {
    let mut model = Model::new(Protocol::OpenAi, 16_384);
    model.rate_limited = 3;
    let (url, seen) = serve(model);
    let (lang, file, constructs) = python_file(150);
    let options = LlmOptions { output_tokens: Some(2048), context_tokens: Some(16_384), ..LlmOptions::default() };
    let g = generator(Protocol::OpenAi, &url, options);
    let answer = g.propose_file(None, lang, &file, &asks(lang, &constructs)).unwrap();
    assert_eq!(tally(&answer.outcomes).get("snippet"), Some(&150));
    let s = seen.lock().unwrap();
    let stats = g.stats();
    assert_eq!(stats.http_attempts, s.posts, "every HTTP exchange the server saw is counted");
    assert_eq!(stats.requests, s.answered);
    assert_eq!(s.posts, s.answered + 3);
}

#[test]
fn refusals_and_hostile_snippets_are_failed_attempts() {
    let mut model = Model::new(Protocol::OpenAi, 16_384);
    model.refuse = true;
    let (url, _) = serve(model);
    let (lang, file, constructs) = python_file(5);
    let g = generator(Protocol::OpenAi, &url, LlmOptions::default());
    let answer = g.propose_file(None, lang, &file, &asks(lang, &constructs)).unwrap();
    assert_eq!(tally(&answer.outcomes).get("llm_refusal"), Some(&5));

    fn hostile(id: &str, _: &str, name: &str, line: &str) -> String {
        match id {
            "c0" => "__import__('os').system('id')".into(),
            "c1" => format!("_teleforge.loop_iter(\"{name}\", \"big.py\", {line}) or eval('1')"),
            "c2" => format!("_teleforge.func_call(\"{name}\", \"big.py\", {line}, {{\"a\": lambda: 1}})"),
            "c3" => format!("_teleforge.loop_iter(\"{name}\", \"big.py\", {line})  # hidden"),
            _ => format!("_teleforge.func_call(\"{name}\", \"big.py\", {line}, {{\"a\": a}})"),
        }
    }
    let mut model = Model::new(Protocol::OpenAi, 16_384);
    model.snippet = hostile;
    let (url, _) = serve(model);
    let g = generator(Protocol::OpenAi, &url, LlmOptions::default());
    let answer = g.propose_file(None, lang, &file, &asks(lang, &constructs)).unwrap();
    let t = tally(&answer.outcomes);
    assert_eq!(t.get("llm_disallowed_snippet"), Some(&4), "{t:?}");
    assert_eq!(t.get("snippet"), Some(&1), "{t:?}");
    assert_eq!(g.stats().disallowed_snippets, 4);
}

#[test]
fn a_context_window_too_small_for_a_construct_reports_it_not_reached() {
    let (url, seen) = serve(Model::new(Protocol::OpenAi, 1_200));
    let mut text = String::from("import os\n\n");
    text.push_str("def small(a, b):\n    return a\n\n");
    text.push_str("def huge(a, b):\n");
    for i in 0..12 {
        text.push_str(&format!("    x{i} = '{}'\n", "y".repeat(400)));
    }
    let lang = for_path(std::path::Path::new("big.py")).unwrap();
    let file = SourceFile { rel: "big.py".into(), text, path: None };
    let mut p = tree_sitter::Parser::new();
    p.set_language(&lang.grammar()).unwrap();
    let tree = p.parse(&file.text, None).unwrap();
    let constructs: Vec<Construct> =
        lang.discover(&file, &tree).into_iter().filter(|c| c.kind.as_str() == "function").collect();
    let options = LlmOptions { output_tokens: Some(256), context_tokens: Some(1_200), ..LlmOptions::default() };
    let g = generator(Protocol::OpenAi, &url, options);
    let answer = g.propose_file(None, lang, &file, &asks(lang, &constructs)).unwrap();
    let t = tally(&answer.outcomes);
    assert_eq!(t.get("snippet"), Some(&1), "{t:?}");
    assert!(matches!(answer.outcomes[1], Outcome::NotReached(NotReached::TooLarge)), "{t:?}");
    assert_eq!(seen.lock().unwrap().rejected_for_context, 0);
}

#[test]
fn files_proposed_from_several_threads_share_the_in_flight_limit() {
    let (url, seen) = serve(Model::new(Protocol::OpenAi, 16_384));
    let (lang, file, constructs) = python_file(20);
    let options = LlmOptions { concurrency: 3, ..LlmOptions::default() };
    let g = generator(Protocol::OpenAi, &url, options);
    let asks = asks(lang, &constructs);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let answer = g.propose_file(None, lang, &file, &asks).unwrap();
                assert_eq!(tally(&answer.outcomes).get("snippet"), Some(&20));
            });
        }
    });
    let s = seen.lock().unwrap();
    assert_eq!(s.answered, g.stats().requests);
    // (How many requests each file takes depends on when the shared calibration of answer sizes
    // learned from the first answers, so the total is not a multiple of the file count.)
    assert!(s.max_in_flight > 1 && s.max_in_flight <= 3, "{}", s.max_in_flight);
    assert_eq!(g.stats().max_in_flight, s.max_in_flight);
}

#[test]
fn a_server_with_a_smaller_window_than_configured_gets_smaller_requests() {
    // The user said 32k; the server holds 5,000 tokens and answers 400 to anything longer.
    let (url, seen) = serve(Model::new(Protocol::OpenAi, 5_000));
    let mut text = String::from("import os\n\n");
    for i in 0..60 {
        text.push_str(&format!("def function_number_{i}(a, b):\n"));
        for j in 0..10 {
            text.push_str(&format!("    c{j} = '{}'\n", "zq".repeat(60)));
        }
        text.push_str("    return a\n\n");
    }
    let lang = for_path(std::path::Path::new("big.py")).unwrap();
    let file = SourceFile { rel: "big.py".into(), text, path: None };
    let mut p = tree_sitter::Parser::new();
    p.set_language(&lang.grammar()).unwrap();
    let tree = p.parse(&file.text, None).unwrap();
    let constructs: Vec<Construct> =
        lang.discover(&file, &tree).into_iter().filter(|c| c.kind.as_str() == "function").collect();
    assert_eq!(constructs.len(), 60);
    let options = LlmOptions { output_tokens: Some(1024), context_tokens: Some(32_768), ..LlmOptions::default() };
    let g = generator(Protocol::OpenAi, &url, options);
    let answer = g.propose_file(None, lang, &file, &asks(lang, &constructs)).unwrap();
    let t = tally(&answer.outcomes);
    assert_eq!(t.get("snippet"), Some(&60), "{t:?}");
    let s = seen.lock().unwrap();
    assert!(s.rejected_for_context > 0, "the scenario needs rejections");
    assert_eq!(g.stats().failed_requests, s.rejected_for_context);
}

fn go_or_js_call(_: &str, kind: &str, name: &str, line: &str) -> String {
    if name.contains('.') && !name.starts_with("app") {
        // Go: functions are `main.F`.
        return match kind {
            "function" => format!("defer Tel.FuncExit(Tel.FuncEntry(\"{name}\", \"main.go\", {line}, \"n\", n))"),
            "loop" => format!("Tel.LoopIter(\"{name}\", \"main.go\", {line})"),
            _ => format!("Tel.VarAssign(\"{name}\", \"main.go\", {line}, \"v\", v)"),
        };
    }
    match kind {
        "function" => format!("__teleforgeTel.funcEntry(\"{name}\", \"app.js\", {line}, {{ n }})"),
        "loop" => format!("__teleforgeTel.loopIter(\"{name}\", \"app.js\", {line})"),
        _ => format!("__teleforgeTel.varAssign(\"{name}\", \"app.js\", {line}, 'v', v)"),
    }
}

/// Go and JavaScript snippets pass the allow-list and parse where their slots put them.
#[test]
fn go_and_javascript_files_get_their_snippets() {
    let mut model = Model::new(Protocol::OpenAi, 16_384);
    model.snippet = go_or_js_call;
    let (url, _) = serve(model);
    let g = generator(Protocol::OpenAi, &url, LlmOptions::default());
    let mut go = String::from("package main\n\nimport \"fmt\"\n\n");
    let mut js = String::from("'use strict';\nconst fs = require('fs');\n\n");
    for i in 0..30 {
        go.push_str(&format!(
            "func F{i}(n int) int {{\n\tv := n * 2\n\tfor k := 0; k < n; k++ {{\n\t\tv += k\n\t}}\n\treturn v\n}}\n\n"
        ));
        js.push_str(&format!("function f{i}(n) {{\n  let v = n * 2;\n  for (let k = 0; k < n; k++) {{\n    v += k;\n  }}\n  return v;\n}}\n\n"));
    }
    go.push_str("func main() { fmt.Println(F0(1)) }\n");
    for (rel, text) in [("main.go", go), ("app.js", js)] {
        let lang = for_path(std::path::Path::new(rel)).unwrap();
        let file = SourceFile { rel: rel.into(), text, path: None };
        let mut p = tree_sitter::Parser::new();
        p.set_language(&lang.grammar()).unwrap();
        let tree = p.parse(&file.text, None).unwrap();
        let constructs: Vec<Construct> =
            lang.discover(&file, &tree).into_iter().filter(|c| lang.slot(c).is_some()).collect();
        assert!(constructs.len() >= 60, "{rel}: {}", constructs.len());
        let answer = g.propose_file(None, lang, &file, &asks(lang, &constructs)).unwrap();
        let t = tally(&answer.outcomes);
        assert_eq!(t.get("snippet"), Some(&constructs.len()), "{rel}: {t:?}");
    }
}

/// The first answers teach the generator how long this model's snippets are: later requests
/// carry more constructs than the generous first estimate allows, and still none is cut.
#[test]
fn requests_grow_to_what_the_models_answers_use() {
    let (url, seen) = serve(Model::new(Protocol::OpenAi, 16_384));
    let (lang, file, constructs) = python_file(600);
    let options = LlmOptions {
        output_tokens: Some(2048),
        context_tokens: Some(16_384),
        max_batch: 1000,
        concurrency: 1,
        ..LlmOptions::default()
    };
    let g = generator(Protocol::OpenAi, &url, options);
    let answer = g.propose_file(None, lang, &file, &asks(lang, &constructs)).unwrap();
    assert_eq!(tally(&answer.outcomes).get("snippet"), Some(&600));
    let s = seen.lock().unwrap();
    let sizes: Vec<usize> = s.prompts.iter().map(|p| p.matches("\n- id: ").count()).collect();
    eprintln!("constructs per request: {sizes:?}");
    assert_eq!(s.cut, 0);
    assert!(sizes.len() >= 2 && sizes[1] > sizes[0] * 3 / 2, "{sizes:?}");
    assert!(s.answered < 30, "{} requests for 600 constructs", s.answered);
}

/// A call that records every parameter of a wide function is long (the template forms write the
/// same call): it is a snippet like any other, not "more than one line".
#[test]
fn a_long_call_for_a_wide_function_is_accepted() {
    fn all_params(_: &str, _: &str, name: &str, line: &str) -> String {
        let kv: Vec<String> = (0..24).map(|i| format!("\"parameter_{i:02}\": parameter_{i:02}")).collect();
        format!("_teleforge.func_call(\"{name}\", \"wide.py\", {line}, {{{}}})", kv.join(", "))
    }
    let mut model = Model::new(Protocol::OpenAi, 16_384);
    model.snippet = all_params;
    let (url, _) = serve(model);
    let params: Vec<String> = (0..24).map(|i| format!("parameter_{i:02}")).collect();
    let text = format!("def wide({}):\n    return parameter_00\n", params.join(", "));
    let lang = for_path(std::path::Path::new("wide.py")).unwrap();
    let file = SourceFile { rel: "wide.py".into(), text, path: None };
    let mut p = tree_sitter::Parser::new();
    p.set_language(&lang.grammar()).unwrap();
    let tree = p.parse(&file.text, None).unwrap();
    let constructs: Vec<Construct> =
        lang.discover(&file, &tree).into_iter().filter(|c| c.kind.as_str() == "function").collect();
    let g = generator(Protocol::OpenAi, &url, LlmOptions::default());
    let answer = g.propose_file(None, lang, &file, &asks(lang, &constructs)).unwrap();
    assert_eq!(tally(&answer.outcomes).get("snippet"), Some(&1), "{:?}", tally(&answer.outcomes));
}
