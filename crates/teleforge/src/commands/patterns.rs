//! `teleforge patterns list|show`.

use anyhow::Result;
use teleforge_learning::{classify::canonical_language, fenced, LearningEngine, Pattern};

use crate::cli::PatternsCommand;
use crate::exit::UsageError;
use crate::output::{print, print_json};

pub fn run(engine: &LearningEngine, cmd: &PatternsCommand) -> Result<i32> {
    match cmd {
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
