//! `teleforge patterns list|show`.

use std::path::Path;

use anyhow::Result;
use teleforge_learning::{classify::canonical_language, fenced, LearningEngine, Pattern};

use crate::cli::PatternsCommand;
use crate::exit::UsageError;
use crate::output::{print, print_json};

pub fn run(engine: &LearningEngine, cmd: &PatternsCommand) -> Result<i32> {
    match cmd {
        PatternsCommand::Verify { path, language, check_timeout, json } => {
            verify(engine, path, language.as_deref(), *check_timeout, *json)
        }
        PatternsCommand::List { language, json } => {
            let patterns = load(engine, language.as_deref())?;
            if *json {
                return print_json(&patterns).map(|()| 0);
            }
            if patterns.is_empty() {
                eprintln!("No consolidated patterns yet: run `teleforge consolidate --all`.");
            }
            let mut text = String::new();
            if !patterns.is_empty() {
                text.push_str(&format!(
                    "{:<40} {:<10} {:<10} {:>7}  {:>10}  {:<16} {:<8} {:>7}  {:>6}\n",
                    "pattern", "language", "construct", "count", "fixed", "category", "status", "applied", "lift"
                ));
            }
            for p in &patterns {
                let lift = p.lift.map_or("-".to_string(), |l| format!("{:+.0}pp", l * 100.0));
                text.push_str(&format!(
                    "{:<40} {:<10} {:<10} {:>6}x  {:>4.0}% fixed  {:<16} {:<8} {:>7}  {:>6}\n",
                    p.pattern_name,
                    p.language,
                    p.construct_type,
                    p.occurrence_count,
                    p.success_rate * 100.0,
                    teleforge_learning::classify::category_of(&p.pattern_name),
                    p.status.as_str(),
                    p.evidence.applied,
                    lift
                ));
            }
            print(&text)?;
            Ok(0)
        }
        PatternsCommand::Show { name, language, json } => {
            let found: Vec<Pattern> =
                load(engine, language.as_deref())?.into_iter().filter(|p| &p.pattern_name == name).collect();
            if found.is_empty() {
                return Err(UsageError(format!("no consolidated pattern is named {name:?}")).into());
            }
            if *json {
                return print_json(&found).map(|()| 0);
            }
            let mut text = String::new();
            for p in &found {
                text.push_str(&format!(
                    "{} ({}, {}, category {})\n  {} occurrences, {:.0}% later fixed, updated {}\n\n",
                    p.pattern_name,
                    p.language,
                    p.construct_type,
                    teleforge_learning::classify::category_of(&p.pattern_name),
                    p.occurrence_count,
                    p.success_rate * 100.0,
                    p.last_updated
                ));
                text.push_str(&format!("Bad example:\n{}\n", fenced(&p.language, &p.bad_example, usize::MAX)));
                if p.good_example.is_empty() {
                    text.push_str("Good example: none yet (no attempt recovered from this pattern)\n\n");
                } else {
                    text.push_str(&format!("Good example:\n{}\n", fenced(&p.language, &p.good_example, usize::MAX)));
                }
                text.push_str(&format!("Why it fails: {}\nHow to fix: {}\n", p.why_fails, p.how_to_fix));
                let e = &p.evidence;
                text.push_str(&format!(
                    "Status: {} ({}); applied to {} first attempts ({} succeeded), baseline {} ({} succeeded){}\n",
                    p.status.as_str(),
                    p.status_reason,
                    e.applied,
                    e.applied_successes,
                    e.baseline,
                    e.baseline_successes,
                    p.lift.map_or(String::new(), |l| format!(", lift {:+.1} points", l * 100.0))
                ));
                text.push_str(&format!("Learnings: {}\n\n", p.learning_hashes.join(", ")));
            }
            print(&text)?;
            Ok(0)
        }
    }
}

/// What `patterns verify` found for one pattern.
#[derive(serde::Serialize)]
struct Verdict {
    language: String,
    pattern: String,
    /// `verified`, `stale` or `cannot_replay`.
    outcome: &'static str,
    detail: String,
}

fn verify(engine: &LearningEngine, root: &Path, language: Option<&str>, timeout: u64, json: bool) -> Result<i32> {
    use teleforge_instrument::replay::{replay, Replay, Replayed};
    use teleforge_learning::PatternStatus;
    let languages = match language {
        Some(l) => vec![super::language_name(l)?],
        None => engine.languages()?,
    };
    let mut verdicts = Vec::new();
    for lang in languages.iter().filter(|l| teleforge_instrument::validate::for_language(l).is_some()) {
        let patterns = engine.load_patterns(lang)?;
        // Per pattern: (the newest failing attempt, the newest attempt that fixed it), replayable.
        let mut cases: Vec<Replay> = Vec::new();
        let mut plan: Vec<(String, Option<usize>, Option<usize>)> = Vec::new();
        for p in patterns.iter().filter(|p| p.status != PatternStatus::Retired) {
            let (mut bad, mut good) = (None, None);
            let mut learnings = Vec::new();
            for h in &p.learning_hashes {
                learnings.extend(engine.store().find(h)?);
            }
            learnings.sort_by_key(|l| std::cmp::Reverse(l.timestamp_millis().unwrap_or(0)));
            for l in &learnings {
                let slot = if l.success { &mut good } else { &mut bad };
                if slot.is_none() {
                    if let Some(case) = replay_case(l) {
                        *slot = Some(cases.len());
                        cases.push(case);
                    }
                }
            }
            plan.push((p.pattern_name.clone(), bad, good));
        }
        if cases.is_empty() {
            for (name, _, _) in plan {
                verdicts.push(Verdict {
                    language: lang.clone(),
                    pattern: name,
                    outcome: "cannot_replay",
                    detail: "no attempt of a template form with its place recorded".into(),
                });
            }
            continue;
        }
        let results = replay(root, lang, &cases, std::time::Duration::from_secs(timeout))?;
        let mut updates = Vec::new();
        for (name, bad, good) in plan {
            let at = |i: Option<usize>| i.map(|i| (&cases[i], &results[i]));
            let (outcome, detail, update) = match (at(bad), at(good)) {
                (Some((c, Replayed::Passes)), _) => {
                    let why = format!("its failing attempt ({} at {}:{}) now validates", c.form, c.file, c.line);
                    ("stale", why.clone(), Some(Some((PatternStatus::Stale, why))))
                }
                (_, Some((c, Replayed::Fails(d)))) => {
                    let why =
                        format!("its fixing attempt ({} at {}:{}) no longer validates: {d}", c.form, c.file, c.line);
                    ("stale", why.clone(), Some(Some((PatternStatus::Stale, why))))
                }
                (Some((_, Replayed::Fails(_))), _) | (_, Some((_, Replayed::Passes))) => {
                    ("verified", "replayed as recorded".to_string(), Some(None))
                }
                (b, g) => {
                    let why = [b, g]
                        .into_iter()
                        .flatten()
                        .find_map(|(_, r)| match r {
                            Replayed::Gone(w) => Some(w.clone()),
                            _ => None,
                        })
                        .unwrap_or_else(|| "no attempt of a template form with its place recorded".into());
                    ("cannot_replay", why, None)
                }
            };
            // A pattern verified true again leaves "stale"; others keep their status.
            let was_stale = patterns.iter().any(|p| p.pattern_name == name && p.status == PatternStatus::Stale);
            match update {
                Some(Some(u)) => updates.push((name.clone(), Some(u))),
                Some(None) if was_stale => updates.push((name.clone(), None)),
                _ => {}
            }
            verdicts.push(Verdict { language: lang.clone(), pattern: name, outcome, detail });
        }
        if !updates.is_empty() {
            engine.set_pattern_status(lang, &updates)?;
        }
    }
    if json {
        print_json(&verdicts)?;
    } else {
        let mut text = String::new();
        for v in &verdicts {
            text.push_str(&format!("{}/{}: {} ({})\n", v.language, v.pattern, v.outcome.replace('_', " "), v.detail));
        }
        print(&text)?;
    }
    Ok(0)
}

/// The replay of a learning made by a template form whose place was recorded.
fn replay_case(l: &teleforge_learning::Learning) -> Option<teleforge_instrument::replay::Replay> {
    let form = l.context.get("form")?;
    if form == teleforge_instrument::pipeline::LLM_FORM {
        return None;
    }
    let file = l.context.get("file")?;
    // subject = "<file>:<line>:<kind>:<function>"
    let rest = l.context.get(teleforge_learning::SUBJECT_KEY)?.strip_prefix(file.as_str())?.strip_prefix(':')?;
    let mut parts = rest.splitn(3, ':');
    let line = parts.next()?.parse().ok()?;
    let kind = parts.next()?.to_string();
    let function = parts.next()?.to_string();
    Some(teleforge_instrument::replay::Replay { file: file.clone(), line, kind, function, form: form.clone() })
}

fn load(engine: &LearningEngine, language: Option<&str>) -> Result<Vec<Pattern>> {
    let languages = match language {
        Some(l) => vec![canonical_language(l)],
        None => engine.languages()?,
    };
    let mut all = Vec::new();
    for l in languages {
        all.extend(engine.load_patterns(&l)?);
    }
    Ok(all)
}
