//! The dashboard in a real headless Chromium, driven over WebDriver (chromedriver's HTTP API,
//! spoken with the HTTP client the workspace already builds): every page loads with data, charts
//! have one mark per run or per day, a pattern leads to its learnings and back, a filter applies,
//! and stored `<script>`, `"><img onerror=…>` and `javascript:` payloads run nothing.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`CHROMIUM` and `CHROMEDRIVER` override the
//! paths). Without them the test is skipped with a message, unless `CI` is set: then it fails.
//! `TELEFORGE_SCREENSHOTS=DIR` saves a PNG of each page there (docs/ holds the ones made so).

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| PathBuf::from(d).join(name)).find(|p| p.is_file())
}

fn tool(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    names.iter().find_map(|n| on_path(n))
}

struct Driver {
    child: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
}

impl Driver {
    fn start(chromium: &PathBuf, chromedriver: &PathBuf) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = agent
                .get(format!("{base}/status"))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .and_then(|b| serde_json::from_str::<Value>(&b).ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut driver = Driver { child, base, session: String::new(), agent };
        let caps = json!({ "capabilities": { "alwaysMatch": { "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--no-first-run", "--no-default-browser-check"],
        }}}});
        let v = driver.call("POST", "/session", Some(caps));
        driver.session = v["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_string();
        driver
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{}", self.base, path);
        let mut res = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or(json!({})).to_string()),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let v: Value =
            serde_json::from_str(&res.body_mut().read_to_string().expect("WebDriver answer")).expect("WebDriver JSON");
        assert!(v["value"].get("error").is_none(), "{method} {path}: {v}");
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({ "url": url })));
    }

    fn js(&self, script: &str) -> Value {
        self.call("POST", &self.s("/execute/sync"), Some(json!({ "script": script, "args": [] })))
    }

    /// Waits until the page named `page` has rendered (the app marks `main` when done).
    fn wait_page(&self, page: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let v = self.js("const m = document.getElementById('main'); return m ? [m.dataset.page || '', m.getAttribute('aria-busy') || ''] : ['', ''];");
            if v[0] == page && v[1] == "" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "page {page} did not render: {v}; {}",
                self.js("return document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks the first element matching `css` after marking the page unrendered.
    fn click(&self, css: &str) {
        self.js("document.getElementById('main').dataset.page = '';");
        let el = self.call("POST", &self.s("/element"), Some(json!({ "using": "css selector", "value": css })));
        let id =
            el.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).expect("element id").to_string();
        self.call("POST", &self.s(&format!("/element/{id}/click")), None);
    }

    fn count(&self, css: &str) -> u64 {
        self.js(&format!("return document.querySelectorAll({}).length;", json!(css))).as_u64().unwrap()
    }

    fn text(&self) -> String {
        self.js("return document.getElementById('main').innerText;").as_str().unwrap_or_default().to_string()
    }

    /// Nothing a stored payload could do happened, and the payloads are on the page as text.
    fn assert_inert(&self, what: &str) {
        let v = self.js(
            "return { xss: typeof window.__xss, imgs: document.querySelectorAll('img').length, \
             scripts: document.scripts.length, \
             jslinks: [...document.querySelectorAll('[href],[src],[action]')].filter(e => /^\\s*javascript:/i.test(e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action') || '')).length, \
             handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length };",
        );
        assert_eq!(v, json!({ "xss": "undefined", "imgs": 0, "scripts": 1, "jslinks": 0, "handlers": 0 }), "{what}");
    }

    fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("TELEFORGE_SCREENSHOTS") else { return };
        let png = base64_decode(self.call("GET", &self.s("/screenshot"), None).as_str().unwrap());
        std::fs::write(PathBuf::from(dir).join(format!("dashboard-{name}.png")), png).unwrap();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.agent.delete(format!("{}/session/{}", self.base, self.session)).call();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= (val(c) as u32) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// Chromium and chromedriver, or `None` (with a message) when they are absent and `CI` is unset.
fn browser(test: &str) -> Option<(PathBuf, PathBuf)> {
    match (tool("CHROMIUM", &["chromium", "chromium-browser"]), tool("CHROMEDRIVER", &["chromedriver"])) {
        (Some(c), Some(d)) => Some((c, d)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but chromium or chromedriver is missing: install Debian's chromium and chromium-driver")
        }
        _ => {
            eprintln!("SKIPPED {test}: chromium and chromedriver not found (apt-get install chromium chromium-driver)");
            None
        }
    }
}

#[test]
fn every_page_in_headless_chromium() {
    let Some((chromium, chromedriver)) = browser("every_page_in_headless_chromium") else { return };
    let dir = tempfile::tempdir().unwrap();
    let served = serve(fixture_store(dir.path()), None);
    let url = &served.url;
    let d = Driver::start(&chromium, &chromedriver);

    // Overview: one point per run on the line chart, one bar per run that left something out.
    d.goto(url);
    d.wait_page("overview");
    assert_eq!(d.count("svg[data-chart=first-attempt] circle"), GO_RUNS as u64);
    assert_eq!(d.count("svg[data-chart=left-out] rect"), 1);
    let hover = d.js("return document.querySelector('svg[data-chart=first-attempt] circle title').textContent;");
    assert!(hover.as_str().unwrap().contains("2026-11-20T10:00:00"), "dates on hover: {hover}");
    assert!(d.text().contains("learnings"));
    d.assert_inert("overview");
    d.screenshot("overview");

    // Error patterns: a bar part per (day, pattern) with failures; a row per pattern.
    d.goto(&format!("{url}#/patterns?language=go"));
    d.wait_page("patterns");
    assert_eq!(d.count("svg[data-chart=pattern-timeline] rect"), 4 + 1);
    let fills = d.js("return new Set([...document.querySelectorAll('svg[data-chart=pattern-timeline] rect')].map(r => getComputedStyle(r).fill)).size;");
    assert_eq!(fills, 2, "one colour per pattern");
    assert_eq!(d.count("main table tbody tr"), 2);
    d.assert_inert("patterns");
    d.screenshot("patterns");

    // Pattern explorer, then its learnings, then back.
    d.click("a[href='#/pattern?language=go&name=go_import_error']");
    d.wait_page("pattern");
    assert!(d
        .js("return document.querySelector('pre.bad-example').textContent")
        .as_str()
        .unwrap()
        .contains("telemetry_utils"));
    assert!(d.count("pre.bad-example .tok-kw") > 0, "bad example highlighted");
    assert!(d.count("pre.good-example .tok-kw") > 0, "good example highlighted");
    assert!(d.text().contains("run-3"), "runs that carried it");
    d.screenshot("pattern");
    d.click("a[href='#/learnings?language=go&pattern=go_import_error']");
    d.wait_page("learnings");
    let rows = d.count("main table tbody tr");
    assert_eq!(rows, 20);
    let patterns =
        d.js("return [...document.querySelectorAll('main table tbody tr td:nth-child(7)')].map(td => td.textContent);");
    assert!(patterns.as_array().unwrap().iter().all(|p| p == "go_import_error"), "{patterns}");
    d.js("document.getElementById('main').dataset.page = ''; history.back();");
    d.wait_page("pattern");
    assert!(d.text().contains("Pattern go_import_error"));

    // Learnings browser: apply a filter through the form.
    d.goto(&format!("{url}#/learnings?language=go"));
    d.wait_page("learnings");
    assert!(d.count("main table tbody tr") > 0);
    d.js("document.querySelector('#filters select[name=success]').value = 'false';");
    d.click("#filters button[type=submit]");
    d.wait_page("learnings");
    let hash = d.js("return location.hash").as_str().unwrap().to_string();
    assert!(hash.contains("success=false"), "{hash}");
    let oks =
        d.js("return [...document.querySelectorAll('main table tbody tr td:nth-child(6)')].map(td => td.textContent);");
    assert!(!oks.as_array().unwrap().is_empty() && oks.as_array().unwrap().iter().all(|v| v == "✗"), "{oks}");
    d.assert_inert("learnings filtered");
    d.goto(&format!("{url}#/learnings?language=go&success=false&pattern={}", urlencode(XSS_PATTERN)));
    d.wait_page("learnings");
    assert_eq!(d.count("main table tbody tr"), 2);
    assert!(d.text().contains(IMG_PAYLOAD), "payload shown as text");
    d.assert_inert("learnings with payloads");
    d.screenshot("learnings");

    // A learning in full, with payloads in code, diagnostics, fix, subject and run id.
    d.click("main table tbody tr td:nth-child(2) a");
    d.wait_page("learning");
    let text = d.text();
    assert!(text.contains(SCRIPT_PAYLOAD) && text.contains(IMG_PAYLOAD), "{text}");
    d.assert_inert("learning");
    d.screenshot("learning");

    // The payload pattern's own page.
    d.goto(&format!("{url}#/pattern?language=go&name={}", urlencode(XSS_PATTERN)));
    d.wait_page("pattern");
    assert!(d
        .js("return document.querySelector('pre.bad-example').textContent")
        .as_str()
        .unwrap()
        .contains(SCRIPT_PAYLOAD));
    assert!(d.text().contains(JS_LINK_PAYLOAD), "a javascript: run id is text");
    d.assert_inert("payload pattern");

    // Runs: one row per run, each leading to its learnings.
    d.goto(&format!("{url}#/runs"));
    d.wait_page("runs");
    assert_eq!(d.count("main table tbody tr"), GO_RUNS as u64);
    d.screenshot("runs");
    d.click("a[href='#/learnings?run=run-2']");
    d.wait_page("learnings");
    let runs =
        d.js("return [...document.querySelectorAll('main table tbody tr td:nth-child(8)')].map(td => td.textContent);");
    assert_eq!(runs.as_array().unwrap().len(), 9);
    assert!(runs.as_array().unwrap().iter().all(|r| r == "run-2"), "{runs}");
    d.assert_inert("run's learnings");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The pages over a store filled by real `instrument` runs (template generator, real toolchains)
/// on the bundled Python and JavaScript examples, one of them with learning off.
#[test]
fn pages_over_real_instrument_runs() {
    let Some((chromium, chromedriver)) = browser("pages_over_real_instrument_runs") else { return };
    use teleforge_instrument::{instrument, DiscoverOptions, InstrumentOptions, LearningOptions, OutputMode};
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let engine = teleforge_learning::LearningEngine::open(&store).unwrap();
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let runs = [("python/bookshop", true), ("javascript/shop", true), ("python/bookshop", false)];
    for (i, (example, apply)) in runs.iter().enumerate() {
        let opts = InstrumentOptions {
            root: examples.join(example),
            discover: DiscoverOptions::default(),
            validate: true,
            max_attempts: 3,
            output: OutputMode::Copy(dir.path().join(format!("out-{i}"))),
            validate_cmd: None,
            run_id: format!("real-run-{i}"),
            learning: LearningOptions { apply: *apply, ..LearningOptions::default() },
            check_timeout: Duration::from_secs(300),
            allow_dirty: false,
        };
        instrument(Some(&engine), &opts, &mut |_| {}).unwrap_or_else(|e| panic!("instrument {example}: {e}"));
    }
    let served = serve(engine, Some("python"));
    let url = &served.url;
    let d = Driver::start(&chromium, &chromedriver);

    d.goto(url);
    d.wait_page("overview");
    assert!(d.text().contains("Overview: python"));
    assert_eq!(d.count("svg[data-chart=first-attempt] circle"), 2, "two python runs");
    d.assert_inert("real overview");
    d.goto(&format!("{url}#/patterns?language=javascript"));
    d.wait_page("patterns");
    d.goto(&format!("{url}#/runs"));
    d.wait_page("runs");
    assert_eq!(d.count("main table tbody tr"), 3);
    d.click("a[href='#/learnings?run=real-run-1']");
    d.wait_page("learnings");
    let langs =
        d.js("return [...document.querySelectorAll('main table tbody tr td:nth-child(3)')].map(td => td.textContent);");
    assert!(
        !langs.as_array().unwrap().is_empty() && langs.as_array().unwrap().iter().all(|l| l == "javascript"),
        "{langs}"
    );
    d.click("main table tbody tr td:nth-child(2) a");
    d.wait_page("learning");
    assert!(d.text().contains("generated_code"));
    d.assert_inert("real learning");
}
