//! `teleforge consolidate`: the seed's consolidation command.

use anyhow::Result;
use serde::Serialize;
use teleforge_learning::{LearningConsolidator, LearningEngine, Pattern, Statistics};

use super::selected_languages;
use crate::cli::ConsolidateArgs;
use crate::output::{print, print_json};

#[derive(Serialize)]
struct Report {
    language: String,
    statistics: Statistics,
    /// `None` with `--stats-only`.
    patterns: Option<Vec<Pattern>>,
    patterns_file: Option<String>,
}

pub fn run(engine: &LearningEngine, args: &ConsolidateArgs) -> Result<i32> {
    let languages = selected_languages(engine, &args.selection)?;
    let consolidator = LearningConsolidator::new(engine);
    let mut reports = Vec::new();
    for language in languages {
        let statistics = engine.statistics(&language)?;
        let (patterns, patterns_file) = if args.stats_only || statistics.total == 0 {
            (None, None)
        } else {
            let p = consolidator.consolidate_language(&language, args.min_occurrences)?;
            (Some(p), Some(engine.patterns_file(&language).display().to_string()))
        };
        reports.push(Report { language, statistics, patterns, patterns_file });
    }
    if args.json {
        print_json(&reports)?;
        return Ok(0);
    }
    if reports.is_empty() {
        eprintln!("No learnings stored yet in {}.", engine.storage_dir().display());
        return Ok(0);
    }
    let mut text = String::new();
    for (i, r) in reports.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        if reports.len() > 1 || args.selection.all {
            text.push_str(&format!("🔍 {}\n", r.language));
        }
        if r.statistics.total == 0 {
            text.push_str(&format!("No {} learnings stored yet.\n", r.language));
            continue;
        }
        text.push_str(&super::stats::render(&r.statistics));
        if let Some(patterns) = &r.patterns {
            text.push('\n');
            if patterns.is_empty() {
                text.push_str(&format!(
                    "⚠️  No pattern reached {} occurrences (lower it with --min-occurrences)\n",
                    args.min_occurrences
                ));
            } else {
                let plural = if patterns.len() == 1 { "" } else { "s" };
                text.push_str(&format!("✅ Created {} consolidated pattern{plural}\n", patterns.len()));
                for p in patterns {
                    text.push_str(&format!(
                        "  📋 {} ({} occurrences, {:.0}% success rate)\n",
                        p.pattern_name,
                        p.occurrence_count,
                        p.success_rate * 100.0
                    ));
                }
            }
            if let Some(file) = &r.patterns_file {
                text.push_str(&format!("  💾 {file}\n"));
            }
        }
    }
    print(&text)?;
    Ok(0)
}
