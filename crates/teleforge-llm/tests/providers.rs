//! Both protocols against real HTTP servers on 127.0.0.1 that speak each provider's wire format:
//! requests are checked field by field, answers are scripted (including 429/5xx with
//! `Retry-After`, a wrong key, an unknown model, garbage, and silence).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use teleforge_llm::{ChatRequest, Error, Finish, Protocol, Provider, ProviderConfig};

/// One scripted answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    delay: Duration,
}

fn ok(body: serde_json::Value) -> Reply {
    Reply { status: 200, headers: vec![], body: body.to_string(), delay: Duration::ZERO }
}

fn status(code: u16, body: &str) -> Reply {
    Reply { status: code, headers: vec![], body: body.to_string(), delay: Duration::ZERO }
}

/// A recorded request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Serves the replies in order, one connection each, then stops.
fn serve(replies: Vec<Reply>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for reply in replies {
            let Ok((stream, _)) = listener.accept() else { return };
            handle(stream, &reply, &log);
        }
    });
    (url, seen)
}

fn handle(mut stream: TcpStream, reply: &Reply, log: &Arc<Mutex<Vec<Seen>>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        if k.eq_ignore_ascii_case("content-length") {
            length = v.trim().parse().unwrap();
        }
        headers.push((k.to_string(), v.trim().to_string()));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    log.lock().unwrap().push(Seen { path, headers, body: serde_json::from_slice(&body).unwrap_or_default() });
    std::thread::sleep(reply.delay);
    let mut out = format!("HTTP/1.1 {} X\r\ncontent-type: application/json\r\nconnection: close\r\n", reply.status);
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n{}", reply.body.len(), reply.body));
    let _ = stream.write_all(out.as_bytes());
}

fn config(protocol: Protocol, url: &str) -> ProviderConfig {
    let mut c = ProviderConfig::new(protocol, "test-model");
    c.base_url = Some(if protocol == Protocol::OpenAi { format!("{url}/v1") } else { url.to_string() });
    c.api_key = Some("sk-test".into());
    c.backoff = Duration::from_millis(10);
    c.timeout = Duration::from_secs(5);
    c
}

fn request() -> ChatRequest {
    ChatRequest {
        system: "You write code.".into(),
        user: "Write\u{200B} it.".into(),
        max_tokens: 100,
        json: true,
        ..Default::default()
    }
}

fn openai_answer(text: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17 }
    })
}

fn anthropic_answer(text: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "test-model",
        "content": [{ "type": "text", "text": text }],
        "stop_reason": "end_turn",
        "usage": { "input_tokens": 20, "output_tokens": 7 }
    })
}

#[test]
fn openai_wire_format() {
    let (url, seen) = serve(vec![ok(openai_answer("{\"snippets\": []}"))]);
    let p = Provider::new(config(Protocol::OpenAi, &url)).unwrap();
    let r = p.complete(&request()).unwrap();
    assert_eq!(r.text, "{\"snippets\": []}");
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens, r.attempts), (12, 5, 1));
    let s = &seen.lock().unwrap()[0];
    assert_eq!(s.path, "/v1/chat/completions");
    assert_eq!(s.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(s.body["model"], "test-model");
    assert_eq!(s.body["messages"][0]["role"], "system");
    assert_eq!(s.body["messages"][1]["content"], "Write it.", "invisible characters are stripped");
    assert_eq!(s.body["response_format"]["type"], "json_object");
}

#[test]
fn anthropic_wire_format() {
    let (url, seen) = serve(vec![ok(anthropic_answer("hello"))]);
    let p = Provider::new(config(Protocol::Anthropic, &url)).unwrap();
    let r = p.complete(&request()).unwrap();
    assert_eq!((r.text.as_str(), r.usage.input_tokens, r.usage.output_tokens), ("hello", 20, 7));
    let s = &seen.lock().unwrap()[0];
    assert_eq!(s.path, "/v1/messages");
    assert_eq!(s.header("x-api-key"), Some("sk-test"));
    assert_eq!(s.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(s.body["system"][0]["text"], "You write code.");
    assert_eq!(s.body["system"][0]["cache_control"]["type"], "ephemeral");
    assert_eq!(s.body["max_tokens"], 100);
    assert_eq!(s.body["messages"][0]["role"], "user");
}

#[test]
fn retries_429_and_5xx_honouring_retry_after() {
    let mut busy = status(429, "{\"error\": {\"message\": \"slow down\"}}");
    busy.headers.push(("retry-after".into(), "0.3".into()));
    let (url, seen) = serve(vec![busy, status(503, "overloaded"), ok(openai_answer("done"))]);
    let p = Provider::new(config(Protocol::OpenAi, &url)).unwrap();
    let start = Instant::now();
    let r = p.complete(&request()).unwrap();
    assert_eq!((r.text.as_str(), r.attempts), ("done", 3));
    assert!(start.elapsed() >= Duration::from_millis(300), "Retry-After was not honoured");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[test]
fn gives_up_after_max_retries_with_the_status() {
    let (url, _) = serve(vec![
        status(500, "a"),
        status(500, "b"),
        status(500, "c"),
        status(500, "{\"error\":{\"message\":\"boom\"}}"),
    ]);
    let p = Provider::new(config(Protocol::Anthropic, &url)).unwrap();
    let e = p.complete(&request()).unwrap_err();
    assert!(matches!(e, Error::Status { status: 500, attempts: 4, .. }), "{e}");
    assert!(e.to_string().contains("boom"));
}

#[test]
fn wrong_key_unknown_model_and_garbage_are_named() {
    let (url, _) = serve(vec![
        status(401, "{\"error\": {\"message\": \"Incorrect API key provided\"}}"),
        status(404, "{\"error\": {\"message\": \"The model `nope` does not exist\", \"code\": \"model_not_found\"}}"),
        ok(serde_json::json!({ "unexpected": true })),
    ]);
    let p = Provider::new(config(Protocol::OpenAi, &url)).unwrap();
    let e = p.complete(&request()).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { status: 401, .. }), "{e}");
    assert!(e.to_string().contains("OPENAI_API_KEY"));
    let e = p.complete(&request()).unwrap_err();
    assert!(matches!(e, Error::UnknownModel { .. }), "{e}");
    assert!(e.to_string().contains("--model"));
    let e = p.complete(&request()).unwrap_err();
    assert!(matches!(e, Error::BadResponse { .. }), "{e}");
}

#[test]
fn unreachable_server_and_timeouts_are_named() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let p = Provider::new(config(Protocol::OpenAi, &format!("http://127.0.0.1:{port}"))).unwrap();
    let e = p.complete(&request()).unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("is the server running"), "{e}");

    let mut slow = ok(openai_answer("late"));
    slow.delay = Duration::from_secs(3);
    let (url, _) = serve(vec![slow]);
    let mut c = config(Protocol::OpenAi, &url);
    c.timeout = Duration::from_millis(500);
    let e = Provider::new(c).unwrap().complete(&request()).unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
}

#[test]
fn hosted_apis_need_a_key_self_hosted_servers_do_not() {
    let mut c = ProviderConfig::new(Protocol::Anthropic, "claude");
    c.api_key = None;
    let e = Provider::new(c).err().unwrap();
    assert!(e.to_string().contains("ANTHROPIC_API_KEY"), "{e}");
    let (url, seen) = serve(vec![ok(openai_answer("local"))]);
    let mut c = config(Protocol::OpenAi, &url);
    c.api_key = None;
    assert_eq!(Provider::new(c).unwrap().complete(&request()).unwrap().text, "local");
    assert_eq!(seen.lock().unwrap()[0].header("authorization"), None);
}

#[test]
fn a_shared_prefix_is_cacheable_on_both_protocols() {
    let req = ChatRequest { prefix: "File header\n".into(), ..request() };
    let mut cached = openai_answer("x");
    cached["usage"]["prompt_tokens_details"] = serde_json::json!({ "cached_tokens": 8 });
    let (url, seen) = serve(vec![ok(cached)]);
    let r = Provider::new(config(Protocol::OpenAi, &url)).unwrap().complete(&req).unwrap();
    assert_eq!((r.usage.input_tokens, r.usage.cached_input_tokens), (12, 8));
    assert_eq!(seen.lock().unwrap()[0].body["messages"][1]["content"], "File header\nWrite it.");

    let mut answer = anthropic_answer("y");
    answer["usage"] = serde_json::json!({
        "input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20
    });
    let (url, seen) = serve(vec![ok(answer)]);
    let r = Provider::new(config(Protocol::Anthropic, &url)).unwrap().complete(&req).unwrap();
    assert_eq!((r.usage.input_tokens, r.usage.cached_input_tokens, r.usage.output_tokens), (125, 100, 7));
    let body = &seen.lock().unwrap()[0].body;
    let content = &body["messages"][0]["content"];
    assert_eq!(content[0]["text"], "File header\n");
    assert_eq!(content[0]["cache_control"]["type"], "ephemeral");
    assert_eq!(content[1]["text"], "Write it.");
    assert!(content[1].get("cache_control").is_none());
}

#[test]
fn cut_answers_and_refusals_are_answers_not_errors() {
    let mut cut = openai_answer("{\"snippets\": [{\"id\"");
    cut["choices"][0]["finish_reason"] = "length".into();
    let mut refusal = openai_answer("");
    refusal["choices"][0]["message"] =
        serde_json::json!({ "role": "assistant", "content": null, "refusal": "I can't help with that." });
    let mut null_content = openai_answer("");
    null_content["choices"][0]["message"]["content"] = serde_json::Value::Null;
    let (url, _) = serve(vec![ok(cut), ok(refusal), ok(null_content)]);
    let p = Provider::new(config(Protocol::OpenAi, &url)).unwrap();
    assert_eq!(p.complete(&request()).unwrap().finish, Finish::Length);
    assert_eq!(p.complete(&request()).unwrap().finish, Finish::Refused("I can't help with that.".into()));
    assert!(matches!(p.complete(&request()).unwrap().finish, Finish::Refused(_)));

    let mut cut = anthropic_answer("{\"snip");
    cut["stop_reason"] = "max_tokens".into();
    let mut refusal = anthropic_answer("");
    refusal["stop_reason"] = "refusal".into();
    refusal["content"] = serde_json::json!([]);
    let (url, _) = serve(vec![ok(cut), ok(refusal)]);
    let p = Provider::new(config(Protocol::Anthropic, &url)).unwrap();
    let r = p.complete(&request()).unwrap();
    assert_eq!((r.finish, r.text.as_str()), (Finish::Length, "{\"snip"));
    assert!(matches!(p.complete(&request()).unwrap().finish, Finish::Refused(_)));
}

#[test]
fn hostile_retry_after_headers_never_panic() {
    let mut replies = Vec::new();
    for value in [
        "inf",
        "1e30",
        "-5",
        "NaN",
        "soon",
        "99999999999999999999999999999",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        let mut busy = status(429, "{}");
        busy.headers.push(("retry-after".into(), value.into()));
        replies.push(busy);
        replies.push(ok(openai_answer("ok")));
    }
    let n = replies.len() / 2;
    let (url, _) = serve(replies);
    let p = Provider::new(config(Protocol::OpenAi, &url)).unwrap();
    for i in 0..n {
        match p.complete(&request()) {
            Ok(r) => assert_eq!(r.text, "ok"),
            // A wait longer than the cap fails the request (with the status), never panics or hangs.
            Err(Error::Status { status: 429, detail, .. }) => {
                assert!(detail.contains("asked to wait"), "{detail}");
                // The scripted "ok" for this round is still queued: consume it.
                assert_eq!(p.complete(&request()).unwrap().text, "ok", "round {i}");
            }
            Err(e) => panic!("round {i}: {e}"),
        }
    }
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    let when = std::time::SystemTime::now() + Duration::from_secs(2);
    let secs = when.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let date = http_date(secs);
    let mut busy = status(429, "{}");
    busy.headers.push(("retry-after".into(), date.clone()));
    let (url, _) = serve(vec![busy, ok(openai_answer("ok"))]);
    let p = Provider::new(config(Protocol::OpenAi, &url)).unwrap();
    let start = Instant::now();
    assert_eq!(p.complete(&request()).unwrap().text, "ok");
    assert!(start.elapsed() >= Duration::from_millis(900), "{date} was not honoured: {:?}", start.elapsed());
}

/// IMF-fixdate of a Unix time (test helper, independent of the parser under test).
fn http_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // civil_from_days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        weekdays[(days % 7) as usize],
        d,
        months[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn an_exhausted_rate_limit_holds_the_next_request_until_its_reset() {
    let mut spent = ok(openai_answer("first"));
    spent.headers.push(("x-ratelimit-remaining-requests".into(), "0".into()));
    spent.headers.push(("x-ratelimit-reset-requests".into(), "400ms".into()));
    let (url, _) = serve(vec![spent, ok(openai_answer("second"))]);
    let p = Provider::new(config(Protocol::OpenAi, &url)).unwrap();
    assert_eq!(p.complete(&request()).unwrap().text, "first");
    let start = Instant::now();
    assert_eq!(p.complete(&request()).unwrap().text, "second");
    assert!(start.elapsed() >= Duration::from_millis(350), "not held: {:?}", start.elapsed());

    let mut fine = ok(openai_answer("first"));
    fine.headers.push(("x-ratelimit-remaining-requests".into(), "99".into()));
    fine.headers.push(("x-ratelimit-reset-requests".into(), "5s".into()));
    let (url, _) = serve(vec![fine, ok(openai_answer("second"))]);
    let p = Provider::new(config(Protocol::OpenAi, &url)).unwrap();
    p.complete(&request()).unwrap();
    let start = Instant::now();
    p.complete(&request()).unwrap();
    assert!(start.elapsed() < Duration::from_secs(2), "held without reason");
}
