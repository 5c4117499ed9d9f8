//! The JSON API through a real HTTP server on 127.0.0.1, over a store filled the way runs fill it.

mod support;

use serde_json::Value;
use support::*;
use teleforge_learning::{Learning, LearningEngine};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// GET `path`; returns the status and the JSON body.
fn get(base: &str, path: &str) -> (u16, Value) {
    let mut res = agent().get(format!("{base}{path}")).call().expect("request");
    let status = res.status().as_u16();
    let body = res.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}")))
}

fn ok(base: &str, path: &str) -> Value {
    let (status, body) = get(base, path);
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn served() -> (tempfile::TempDir, Served) {
    let dir = tempfile::tempdir().unwrap();
    let engine = fixture_store(dir.path());
    let served = serve(engine, None);
    (dir, served)
}

#[test]
fn languages_and_overview_come_from_the_store() {
    let (_dir, s) = served();
    let langs = ok(&s.url, "api/languages");
    let names: Vec<&str> =
        langs["languages"].as_array().unwrap().iter().map(|l| l["language"].as_str().unwrap()).collect();
    assert_eq!(names, ["go", "python"]);

    let o = ok(&s.url, "api/overview?language=go");
    assert_eq!(o["language"], "go");
    let runs = o["runs"].as_array().unwrap();
    assert_eq!(runs.len(), GO_RUNS, "one point per run of the language");
    let ids: Vec<&str> = runs.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["run-1", "run-2", "run-3", "run-4"], "oldest first");
    // run-1: four of six constructs failed at first → 2/6; run-4: one failed → 5/6.
    assert!((runs[0]["first_attempt_rate"].as_f64().unwrap() - 2.0 / 6.0).abs() < 1e-9);
    assert!((runs[3]["first_attempt_rate"].as_f64().unwrap() - 5.0 / 6.0).abs() < 1e-9);
    assert_eq!(runs[0]["left_out"], 1);
    assert_eq!(o["statistics"]["total"], 6 * GO_RUNS as u64 + (4 + 3 + 2 + 1) + 4);
    assert_eq!(o["patterns"]["total"], 2);

    // Without language=, the first language in the store.
    assert_eq!(ok(&s.url, "api/overview")["language"], "go");
    let py = ok(&s.url, "api/overview?language=python");
    assert_eq!(py["runs"].as_array().unwrap().len(), 0, "python runs recorded no summary");
}

#[test]
fn patterns_timeline_and_detail() {
    let (_dir, s) = served();
    let p = ok(&s.url, "api/patterns?language=go");
    let names: Vec<&str> =
        p["patterns"].as_array().unwrap().iter().map(|p| p["pattern_name"].as_str().unwrap()).collect();
    assert_eq!(names[0], "go_import_error");
    assert!(names.contains(&XSS_PATTERN));
    let t = &p["timeline"];
    let days = t["days"].as_array().unwrap();
    assert_eq!(days.len(), 5, "runs on four days plus the day of the payloads: {t}");
    let import = t["series"].as_array().unwrap().iter().find(|s| s["pattern"] == "go_import_error").unwrap();
    let counts: Vec<u64> = import["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).collect();
    assert_eq!(counts, [4, 3, 2, 1, 0]);

    let d = ok(&s.url, "api/patterns/go/go_import_error");
    assert_eq!(d["lesson"], "go/go_import_error");
    assert_eq!(d["pattern"]["occurrence_count"], 10);
    assert!(!d["pattern"]["bad_example"].as_str().unwrap().is_empty());
    let learnings = d["learnings"].as_array().unwrap();
    assert!(!learnings.is_empty());
    assert!(learnings.iter().all(|l| l["error_pattern"] == "go_import_error"));
    let carried: Vec<&str> =
        d["carried_by_runs"].as_array().unwrap().iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(carried, ["run-4", "run-3"], "runs 3 and 4 applied it, newest first");
    let applied: u64 = d["applications"].as_array().unwrap().iter().map(|a| a["count"].as_u64().unwrap()).sum();
    assert_eq!(applied, 12, "six first attempts in each of two runs");

    // A pattern name full of markup round-trips through the path.
    let enc: String = XSS_PATTERN.bytes().map(|b| format!("%{b:02X}")).collect();
    let x = ok(&s.url, &format!("api/patterns/go/{enc}"));
    assert_eq!(x["pattern"]["pattern_name"], XSS_PATTERN);

    let (status, body) = get(&s.url, "api/patterns/go/no_such_pattern");
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("no_such_pattern"));
}

#[test]
fn learnings_are_paged_and_filtered() {
    let (_dir, s) = served();
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let r = ok(&s.url, &format!("api/learnings?language=go&per_page=7&page={page}"));
        for item in r["items"].as_array().unwrap() {
            seen.push(item["hash"].as_str().unwrap().to_string());
        }
        if !r["has_more"].as_bool().unwrap() {
            break;
        }
        page += 1;
    }
    let total = 6 * GO_RUNS + 10 + 4;
    assert_eq!(seen.len(), total, "every go learning once");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total, "no learning on two pages");

    let failures = ok(&s.url, "api/learnings?language=go&success=false&per_page=200");
    assert!(failures["items"].as_array().unwrap().iter().all(|l| l["success"] == false));
    let by_pattern = ok(&s.url, "api/learnings?language=go&pattern=go_import_error&per_page=200");
    assert_eq!(by_pattern["items"].as_array().unwrap().len(), 20);
    let by_run = ok(&s.url, "api/learnings?run=run-2&per_page=200");
    let items = by_run["items"].as_array().unwrap();
    assert_eq!(items.len(), 6 + 3);
    assert!(items.iter().all(|l| l["run_id"] == "run-2"));
    let loops = ok(&s.url, "api/learnings?language=go&construct_type=loop&per_page=200");
    assert!(loops["items"].as_array().unwrap().iter().all(|l| l["construct_type"] == "loop"));
    // Every language, newest first, merged.
    let all = ok(&s.url, "api/learnings?per_page=200");
    let stamps: Vec<&str> = all["items"].as_array().unwrap().iter().map(|l| l["timestamp"].as_str().unwrap()).collect();
    assert_eq!(stamps.len(), total + 4);
    assert!(stamps.windows(2).all(|w| w[0] >= w[1]));

    let (status, body) = get(&s.url, "api/learnings?page=abc");
    assert_eq!(status, 400, "{body}");
    let (status, _) = get(&s.url, "api/learnings?success=maybe");
    assert_eq!(status, 400);
    let (status, body) = get(&s.url, "api/learnings?page=100000");
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("narrow the filters"));
}

#[test]
fn a_learning_in_full() {
    let (_dir, s) = served();
    let list = ok(&s.url, "api/learnings?language=go&pattern=go_import_error&success=false&per_page=1");
    let hash = list["items"][0]["hash"].as_str().unwrap().to_string();
    let full = ok(&s.url, &format!("api/learnings/{hash}"));
    let l: Learning = serde_json::from_value(full["learning"].clone()).expect("the seed's record shape");
    assert_eq!(l.hash, hash);
    assert_eq!(l.error_pattern.as_deref(), Some("go_import_error"));
    assert!(l.context.contains_key("subject"));
    // With the hints a list's link carries (the learning's own fields), and with wrong hints.
    let hinted = ok(
        &s.url,
        &format!(
            "api/learnings/{hash}?language=go&construct_type={}&pattern=go_import_error&success=false",
            l.construct_type
        ),
    );
    assert_eq!(hinted["learning"]["hash"], hash);
    let misled = ok(&s.url, &format!("api/learnings/{hash}?language=python&success=true"));
    assert_eq!(misled["learning"]["hash"], hash, "wrong hints fall back to the full search");
    assert_eq!(get(&s.url, "api/learnings/abcdef123456").0, 404);
    assert_eq!(get(&s.url, "api/learnings/abcdef123456?language=go").0, 404);
    assert_eq!(get(&s.url, "api/learnings/zz%3Cscript").0, 400);
}

#[test]
fn runs_one_row_each() {
    let (_dir, s) = served();
    let r = ok(&s.url, "api/runs");
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), GO_RUNS);
    assert_eq!(runs[0]["run_id"], "run-4", "newest first");
    assert_eq!(runs[0]["counts"]["constructs_found"], 6);
    assert_eq!(ok(&s.url, "api/runs?limit=2")["runs"].as_array().unwrap().len(), 2);
    assert_eq!(ok(&s.url, "api/runs?language=python")["runs"].as_array().unwrap().len(), 0);
}

#[test]
fn assets_headers_and_refusals() {
    let (_dir, s) = served();
    let a = agent();
    for (path, kind) in [("", "text/html"), ("app.js", "text/javascript"), ("app.css", "text/css")] {
        let res = a.get(format!("{}{path}", s.url)).call().unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let ct = res.headers().get("content-type").unwrap().to_str().unwrap();
        assert!(ct.starts_with(kind), "{path}: {ct}");
        let csp = res.headers().get("content-security-policy").unwrap().to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    }
    let html = a.get(&s.url).call().unwrap().body_mut().read_to_string().unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"), "no asset from elsewhere");
    assert_eq!(a.get(format!("{}nope", s.url)).call().unwrap().status().as_u16(), 404);
    assert_eq!(get(&s.url, "api/nope").0, 404);
    assert_eq!(a.post(&s.url).send("x").unwrap().status().as_u16(), 405, "read-only");
    assert_eq!(a.delete(format!("{}api/learnings", s.url)).call().unwrap().status().as_u16(), 405);
    // A page elsewhere that rebinds its DNS name to 127.0.0.1 gets nothing.
    let res = a.get(format!("{}api/languages", s.url)).header("Host", "evil.example").call().unwrap();
    assert_eq!(res.status().as_u16(), 421);
}

/// The dashboard never writes, and sees what a writer adds while it serves.
#[test]
fn read_only_beside_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let engine = fixture_store(dir.path());
    drop(engine);
    let snapshot = || -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
            .collect();
        files.sort();
        // SQLite's shared-memory index of the WAL is rebuilt by any reader, and a reader of a WAL
        // database creates the (empty) log if it is missing: neither holds data.
        files.retain(|(name, bytes)| !(name.ends_with("-shm") || (name.ends_with("-wal") && bytes.is_empty())));
        files
    };
    let before = snapshot();
    let s = serve(LearningEngine::open(dir.path()).unwrap(), Some("go"));
    for path in [
        "api/config",
        "api/languages",
        "api/overview",
        "api/patterns",
        "api/patterns/go/go_import_error",
        "api/learnings",
        "api/learnings?run=run-1",
        "api/runs",
    ] {
        ok(&s.url, path);
    }
    let after = snapshot();
    let changed: Vec<_> = after.iter().filter(|f| !before.contains(f)).map(|(n, b)| (n.clone(), b.len())).collect();
    assert!(before == after, "serving changed a file in the storage folder: {changed:?}");

    let total = |s: &Served| ok(&s.url, "api/overview?language=go")["statistics"]["total"].as_u64().unwrap();
    let n = total(&s);
    let writer = LearningEngine::open(dir.path()).unwrap();
    writer
        .capture(Learning {
            language: "go".into(),
            construct_type: "function".into(),
            attempt_number: 1,
            success: true,
            generated_code: "Tel.Enter()".into(),
            run_id: Some("run-live".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(total(&s), n + 1);
}
