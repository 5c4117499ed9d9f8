//! `teleforge stats`: the seed's statistics block.

use anyhow::Result;
use teleforge_learning::{LearningEngine, Statistics};

use crate::cli::StatsArgs;
use crate::output::{print, print_json};

pub fn run(engine: &LearningEngine, args: &StatsArgs) -> Result<i32> {
    let languages = match &args.language {
        Some(l) => vec![super::language_name(l)?],
        None => engine.languages()?,
    };
    let stats = languages.iter().map(|l| engine.statistics(l)).collect::<Result<Vec<_>, _>>()?;
    if args.json {
        print_json(&stats)?;
        return Ok(0);
    }
    if stats.is_empty() {
        eprintln!("No learnings stored yet in {}.", engine.storage_dir().display());
        return Ok(0);
    }
    let mut text = String::new();
    for s in &stats {
        if stats.len() > 1 {
            text.push_str(&format!("🔍 {}\n", s.language));
        }
        text.push_str(&render(s));
        // Ours, after the seed's block: the learning effect, measured on first attempts.
        let rate = |r: &teleforge_learning::FirstAttemptRate| match r.rate {
            Some(x) => format!("{:.1}% of {}", x * 100.0, r.attempts),
            None => "no runs".to_string(),
        };
        let f = &s.first_attempts;
        if f.with_learning.attempts + f.without_learning.attempts > 0 {
            text.push_str(&format!(
                "\n  Right first time: {} with learning, {} without (--no-learning)\n",
                rate(&f.with_learning),
                rate(&f.without_learning)
            ));
        }
        text.push('\n');
    }
    print(text.trim_end_matches('\n'))?;
    print("\n")?;
    Ok(0)
}

/// The seed's statistics block, field for field.
pub fn render(s: &Statistics) -> String {
    let mut t = String::from("📊 Statistics:\n");
    t.push_str(&format!("  Total learnings: {}\n", s.total));
    t.push_str(&format!("  Failures: {}\n", s.failures));
    t.push_str(&format!("  Successes: {}\n", s.successes));
    t.push_str(&format!("  Success rate: {:.1}%\n", s.success_rate * 100.0));
    if !s.by_construct_type.is_empty() {
        t.push_str("\n  By construct type:\n");
        let mut constructs: Vec<_> = s.by_construct_type.iter().collect();
        constructs.sort_by(|a, b| b.1.total.cmp(&a.1.total).then_with(|| a.0.cmp(b.0)));
        for (name, c) in constructs {
            t.push_str(&format!("    {name}: {} total ({} ✓ / {} ✗)\n", c.total, c.successes, c.failures));
        }
    }
    if !s.error_patterns.is_empty() {
        t.push_str("\n  Error patterns:\n");
        for (name, n) in &s.error_patterns {
            t.push_str(&format!("    {name}: {n}x\n"));
        }
    }
    t
}
