//! The JSON API under `/api/…`: one function per endpoint, each a few bounded store queries.
//!
//! Every figure comes from the store through [`LearningStore`](teleforge_learning::store::LearningStore):
//! counts from its kept tallies and run summaries, lists from indexed `learnings` queries with a
//! limit. Where the store offers no query for what a page asks (paging with an offset, filtering by
//! run, finding the runs whose prompts carried a pattern) the answer is computed from the newest
//! [`SCAN_LIMIT`] matching learnings and says so (`"scan_limit"`, `"truncated"`), so no request ever
//! reads a whole store. docs/DASHBOARD.md documents the shapes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};
use teleforge_learning::store::LearningQuery;
use teleforge_learning::{Learning, LearningEngine, Pattern};

/// The most learnings one request reads to page, filter by run, or find where a pattern was applied.
pub const SCAN_LIMIT: usize = 5000;
/// Learnings per page unless `per_page` says otherwise, and the most it may say.
pub const DEFAULT_PER_PAGE: usize = 50;
pub const MAX_PER_PAGE: usize = 200;
/// Runs shown on the overview and the runs page.
pub const RUNS_LIMIT: usize = 500;
/// Patterns drawn in the occurrences-over-time chart, and failures read per pattern for it.
pub const TIMELINE_PATTERNS: usize = 8;
pub const TIMELINE_FAILURES: usize = 1000;
/// Learnings listed on a pattern's page.
pub const PATTERN_LEARNINGS: usize = 50;
/// Characters of a validation error shown in a list row.
const ERROR_PREVIEW: usize = 200;

/// An answer other than 200: the status and one line saying what to change.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        ApiError { status: 400, message: message.into() }
    }
    fn not_found(message: impl Into<String>) -> Self {
        ApiError { status: 404, message: message.into() }
    }
}

impl From<teleforge_learning::Error> for ApiError {
    fn from(e: teleforge_learning::Error) -> Self {
        // A store busy with a writer's transaction is worth retrying; anything else is ours.
        let status = if matches!(e, teleforge_learning::Error::Busy { .. }) { 503 } else { 500 };
        ApiError { status, message: e.to_string() }
    }
}

type ApiResult = Result<Value, ApiError>;

/// Query-string parameters, decoded.
pub type Params = HashMap<String, String>;

/// Routes one API path (after `/api/`) to its endpoint.
pub fn route(engine: &LearningEngine, default_language: Option<&str>, path: &str, params: &Params) -> ApiResult {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        ["config"] => Ok(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "read_only": true,
            "default_language": default_language,
            "storage_dir": engine.storage_dir().display().to_string(),
        })),
        ["languages"] => languages(engine),
        ["overview"] => overview(engine, &language_param(engine, default_language, params)?),
        ["patterns"] => patterns(engine, &language_param(engine, default_language, params)?),
        ["patterns", language, name] => pattern(engine, language, name),
        ["learnings"] => learnings(engine, params),
        ["learnings", hash] => learning(engine, hash, params),
        ["runs"] => runs(engine, params),
        _ => Err(ApiError::not_found(format!("no API endpoint /api/{path}; see docs/DASHBOARD.md"))),
    }
}

/// `language=` if given, else the dashboard's `--language`, else the first language in the store.
fn language_param(
    engine: &LearningEngine,
    default_language: Option<&str>,
    params: &Params,
) -> Result<String, ApiError> {
    if let Some(l) = params.get("language").filter(|l| !l.is_empty()) {
        return Ok(l.clone());
    }
    if let Some(l) = default_language {
        return Ok(l.to_string());
    }
    engine
        .languages()?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("the store has no learnings yet: run `teleforge instrument` first"))
}

fn languages(engine: &LearningEngine) -> ApiResult {
    let mut out = Vec::new();
    for language in engine.languages()? {
        let s = engine.statistics(&language)?;
        let patterns = engine.store().patterns(&language)?;
        out.push(json!({
            "language": language,
            "total": s.total,
            "successes": s.successes,
            "failures": s.failures,
            "success_rate": s.success_rate,
            "patterns": patterns.len(),
            "first_attempts": s.first_attempts,
        }));
    }
    Ok(json!({ "languages": out }))
}

fn overview(engine: &LearningEngine, language: &str) -> ApiResult {
    let stats = engine.statistics(language)?;
    let patterns = engine.store().patterns(language)?;
    let active = patterns.iter().filter(|p| p.status.as_str() == "active").count();
    // Runs come newest first; the chart wants them in time order.
    let mut runs: Vec<Value> = engine
        .store()
        .runs(Some(RUNS_LIMIT))?
        .into_iter()
        .filter(|r| r.languages.iter().any(|l| l == language))
        .map(|r| {
            let count = |k: &str| r.counts.get(k).copied().unwrap_or(0);
            let found = count("constructs_found");
            let first = count("first_attempt_successes");
            json!({
                "run_id": r.run_id,
                "started": r.started,
                "finished": r.finished,
                "generator": r.generator,
                "learning": r.learning,
                "languages": r.languages,
                "constructs_found": found,
                "first_attempt_successes": first,
                "first_attempt_rate": (found > 0).then(|| first as f64 / found as f64),
                "left_out": count("left_out"),
                "attempts": count("attempts"),
            })
        })
        .collect();
    runs.reverse();
    Ok(json!({
        "language": language,
        "statistics": stats,
        "patterns": { "total": patterns.len(), "active": active, "retired": patterns.len() - active },
        "runs": runs,
        "runs_limit": RUNS_LIMIT,
    }))
}

/// A pattern without its examples and hashes: what a list row shows.
fn pattern_summary(p: &Pattern) -> Value {
    json!({
        "pattern_name": p.pattern_name,
        "language": p.language,
        "category": p.category,
        "construct_type": p.construct_type,
        "occurrence_count": p.occurrence_count,
        "success_rate": p.success_rate,
        "status": p.status.as_str(),
        "status_reason": p.status_reason,
        "evidence": p.evidence,
        "lift": p.lift,
        "last_updated": p.last_updated,
    })
}

fn patterns(engine: &LearningEngine, language: &str) -> ApiResult {
    let patterns = engine.store().patterns(language)?;
    // Occurrences over time: failures per day of the most frequent patterns, each from its newest
    // TIMELINE_FAILURES failures (an indexed query per pattern).
    let mut days = BTreeSet::new();
    let mut per_pattern = Vec::new();
    let mut truncated = false;
    for p in patterns.iter().take(TIMELINE_PATTERNS) {
        let failures = engine.store().learnings(&LearningQuery {
            language: Some(language.to_string()),
            error_pattern: Some(p.pattern_name.clone()),
            only_failures: true,
            limit: Some(TIMELINE_FAILURES),
            ..Default::default()
        })?;
        truncated |= failures.len() >= TIMELINE_FAILURES;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for l in &failures {
            let day: String = l.timestamp.chars().take(10).collect();
            days.insert(day.clone());
            *counts.entry(day).or_default() += 1;
        }
        per_pattern.push((p.pattern_name.clone(), counts));
    }
    let days: Vec<String> = days.into_iter().collect();
    let series: Vec<Value> = per_pattern
        .iter()
        .map(|(name, counts)| {
            let values: Vec<u64> = days.iter().map(|d| counts.get(d).copied().unwrap_or(0)).collect();
            json!({ "pattern": name, "counts": values })
        })
        .collect();
    Ok(json!({
        "language": language,
        "patterns": patterns.iter().map(pattern_summary).collect::<Vec<_>>(),
        "timeline": {
            "days": days,
            "series": series,
            "patterns_limit": TIMELINE_PATTERNS,
            "failures_per_pattern_limit": TIMELINE_FAILURES,
            "truncated": truncated,
        },
    }))
}

fn pattern(engine: &LearningEngine, language: &str, name: &str) -> ApiResult {
    let p = engine
        .store()
        .patterns(language)?
        .into_iter()
        .find(|p| p.pattern_name == name)
        .ok_or_else(|| ApiError::not_found(format!("no pattern {name:?} in {language:?}; consolidate first")))?;
    let lesson = format!("{language}/{name}");
    let learnings = engine.store().learnings(&LearningQuery {
        language: Some(language.to_string()),
        error_pattern: Some(name.to_string()),
        limit: Some(PATTERN_LEARNINGS),
        ..Default::default()
    })?;
    // Applications: first attempts the pattern was applied to, per language it was carried in
    // (its own, and any that borrowed it), from the store's kept counts.
    let mut applications = Vec::new();
    for l in engine.languages()? {
        for a in engine.store().applications(&l)? {
            if a.lesson == lesson {
                applications.push(json!({
                    "language": l, "construct_type": a.construct_type, "success": a.success, "count": a.count,
                }));
            }
        }
    }
    // Runs whose prompts or form orderings carried it, among the newest learnings of the language.
    let recent = engine.store().learnings(&LearningQuery {
        language: Some(language.to_string()),
        limit: Some(SCAN_LIMIT),
        ..Default::default()
    })?;
    let mut carried: BTreeMap<String, (u64, u64, String)> = BTreeMap::new();
    for l in &recent {
        let applied = l.context.get("applied").map(String::as_str).unwrap_or("[]");
        let ids: Vec<String> = serde_json::from_str(applied).unwrap_or_default();
        if ids.contains(&lesson) {
            let run = l.run_id.clone().unwrap_or_default();
            let e = carried.entry(run).or_insert((0, 0, l.timestamp.clone()));
            e.0 += 1;
            e.1 += l.success as u64;
        }
    }
    let mut carried: Vec<Value> = carried
        .into_iter()
        .map(|(run, (n, ok, ts))| json!({ "run_id": run, "attempts": n, "successes": ok, "last_seen": ts }))
        .collect();
    carried.sort_by(|a, b| b["last_seen"].as_str().cmp(&a["last_seen"].as_str()));
    Ok(json!({
        "lesson": lesson,
        "pattern": p,
        "learnings": learnings.iter().map(learning_summary).collect::<Vec<_>>(),
        "learnings_limit": PATTERN_LEARNINGS,
        "applications": applications,
        "carried_by_runs": carried,
        "scan_limit": SCAN_LIMIT,
        "truncated": recent.len() >= SCAN_LIMIT,
    }))
}

/// What a row of the learnings browser shows; the full record is one click away.
fn learning_summary(l: &Learning) -> Value {
    let first_error: String =
        l.validation_errors.first().map(|e| e.chars().take(ERROR_PREVIEW).collect()).unwrap_or_default();
    json!({
        "hash": l.hash,
        "timestamp": l.timestamp,
        "language": l.language,
        "construct_type": l.construct_type,
        "attempt_number": l.attempt_number,
        "success": l.success,
        "error_pattern": l.error_pattern,
        "run_id": l.run_id,
        "generator": l.generator,
        "subject": l.context.get(teleforge_learning::SUBJECT_KEY),
        "first_error": first_error,
    })
}

fn learnings(engine: &LearningEngine, params: &Params) -> ApiResult {
    let get = |k: &str| params.get(k).filter(|v| !v.is_empty()).cloned();
    let number = |k: &str, default: usize| -> Result<usize, ApiError> {
        match get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| ApiError::bad_request(format!("{k}={v:?} is not a whole number"))),
        }
    };
    let page = number("page", 1)?.max(1);
    let per_page = number("per_page", DEFAULT_PER_PAGE)?.clamp(1, MAX_PER_PAGE);
    let (only_failures, only_successes) = match get("success").as_deref() {
        None => (false, false),
        Some("true") | Some("1") => (false, true),
        Some("false") | Some("0") => (true, false),
        Some(other) => return Err(ApiError::bad_request(format!("success={other:?}: use true or false"))),
    };
    let run = get("run");
    let offset = (page - 1) * per_page;
    // Without a run filter the store pages for us up to the scan limit; with one, we read the
    // newest SCAN_LIMIT matches and keep that run's.
    let want = if run.is_some() { SCAN_LIMIT } else { offset + per_page + 1 };
    if want > SCAN_LIMIT + 1 {
        return Err(ApiError::bad_request(format!(
            "page {page} is past the newest {SCAN_LIMIT} learnings the dashboard pages through; narrow the filters"
        )));
    }
    let languages = match (get("language"), &run) {
        (Some(l), _) => vec![l],
        // A run's summary names the languages it captured: read only those.
        (None, Some(run)) => match engine.store().runs(Some(RUNS_LIMIT))?.into_iter().find(|r| &r.run_id == run) {
            Some(r) if !r.languages.is_empty() => r.languages,
            _ => engine.languages()?,
        },
        (None, None) => engine.languages()?,
    };
    // One indexed query per language (newest first by the (language, time) indexes), merged.
    let mut found: Vec<Learning> = Vec::new();
    let mut scanned_full = false;
    for language in languages {
        let got = engine.store().learnings(&LearningQuery {
            language: Some(language),
            construct_type: get("construct_type"),
            error_pattern: get("pattern"),
            only_failures,
            only_successes,
            limit: Some(want),
        })?;
        scanned_full |= got.len() >= want;
        found.extend(got);
    }
    // Stable: ties keep the store's order within a language, and languages their order, so
    // page N of a larger read starts where page N-1 of a smaller one ended.
    found.sort_by(|a, b| b.timestamp.cmp(&a.timestamp));
    found.truncate(want);
    if let Some(run) = &run {
        found.retain(|l| l.run_id.as_deref() == Some(run.as_str()));
    }
    let has_more = found.len() > offset + per_page;
    let items: Vec<Value> = found.iter().skip(offset).take(per_page).map(learning_summary).collect();
    Ok(json!({
        "items": items,
        "page": page,
        "per_page": per_page,
        "has_more": has_more,
        "scan_limit": SCAN_LIMIT,
        "truncated": run.is_some() && scanned_full,
    }))
}

/// One learning by its hash. The store's prefix search reads every learning (270 ms at a million),
/// so links carry where the learning was listed (`language`, `construct_type`, `pattern`,
/// `success`: its own fields) and those indexed queries are tried first: a learning any list
/// showed is among the newest [`SCAN_LIMIT`] + 1 with its own fields, because every list filter
/// is looser than them. Without hints, or when they miss, the prefix search answers.
fn learning(engine: &LearningEngine, hash: &str, params: &Params) -> ApiResult {
    if hash.len() < 4 || hash.len() > 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request("a learning is named by 4 to 64 hex digits of its hash"));
    }
    let get = |k: &str| params.get(k).filter(|v| !v.is_empty()).cloned();
    if let Some(language) = get("language") {
        let success = get("success");
        for limit in [64, SCAN_LIMIT + 1] {
            let near = engine.store().learnings(&LearningQuery {
                language: Some(language.clone()),
                construct_type: get("construct_type"),
                error_pattern: get("pattern"),
                only_failures: success.as_deref() == Some("false"),
                only_successes: success.as_deref() == Some("true"),
                limit: Some(limit),
            })?;
            let mut hits: Vec<Learning> = near.into_iter().filter(|l| l.hash.starts_with(hash)).collect();
            if hits.len() == 1 {
                return Ok(json!({ "learning": hits.remove(0) }));
            }
            if !hits.is_empty() {
                break; // ambiguous among the hinted ones: let the full search say how many
            }
        }
    }
    let mut found = engine.store().find(hash)?;
    match found.len() {
        0 => Err(ApiError::not_found(format!("no learning with hash {hash}"))),
        1 => Ok(json!({ "learning": found.remove(0) })),
        n => Err(ApiError::bad_request(format!("{n} learnings start with {hash}: give more digits"))),
    }
}

fn runs(engine: &LearningEngine, params: &Params) -> ApiResult {
    let limit = match params.get("limit").filter(|v| !v.is_empty()) {
        None => RUNS_LIMIT,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("limit={v:?} is not a whole number")))?
            .clamp(1, RUNS_LIMIT),
    };
    let language = params.get("language").filter(|v| !v.is_empty());
    let runs: Vec<_> = engine
        .store()
        .runs(Some(limit))?
        .into_iter()
        .filter(|r| language.is_none_or(|l| r.languages.contains(l)))
        .collect();
    Ok(json!({ "runs": runs, "limit": limit }))
}
