//! [`LearningConsolidator`]: groups learnings into error patterns (the seed's step 4).
//!
//! How each field is computed (also in `docs/LEARNING.md`):
//! - `occurrence_count`: failed attempts classified as the pattern.
//! - `success_rate`: successes that recovered from the pattern (success learnings whose
//!   `error_pattern` names it) divided by `occurrence_count`, capped at 1, rounded to two
//!   decimals: the share of occurrences that were later fixed. This is the reading under which the
//!   seed's figures agree (10 failures, 5 successes; go_import_error 6 occurrences, 67%, i.e. 4
//!   fixes; go_undefined_tel 3, 33%, i.e. 1 fix).
//! - `construct_type`: the construct type with most occurrences (ties: alphabetical).
//! - `bad_example` / `good_example`: a failure and the success that fixed it in the same run
//!   (same `run_id` and context `subject`, the failure's attempt earlier), newest pair of the
//!   pattern's construct type first;
//!   without such a pair, the newest failure and newest success of the pattern, preferring the
//!   pattern's construct type. `good_example` is empty when nothing ever recovered.
//! - `why_fails` / `how_to_fix`: the classifier table's texts; `how_to_fix` adds the most frequent
//!   `fix_applied` of the recoveries. Template-named patterns quote their message template.
//! - `learning_hashes`: the newest [`MAX_LEARNING_HASHES`] learnings behind the pattern.
//! - `last_updated`: the time of consolidation.

use std::collections::{BTreeMap, HashMap};

use crate::classify::{canonical_language, rule, template::template};
use crate::engine::LearningEngine;
use crate::error::Result;
use crate::record::{now_timestamp, Learning, Pattern, SUBJECT_KEY};

/// The seed's default for `--min-occurrences`.
pub const DEFAULT_MIN_OCCURRENCES: u64 = 2;
/// How many learning hashes a pattern lists (its count is in `occurrence_count`).
pub const MAX_LEARNING_HASHES: usize = 100;

/// Turns a language's learnings into patterns and patterns into prompt text.
pub struct LearningConsolidator<'a> {
    pub(crate) engine: &'a LearningEngine,
}

impl<'a> LearningConsolidator<'a> {
    pub fn new(engine: &'a LearningEngine) -> Self {
        LearningConsolidator { engine }
    }

    /// Consolidates one language: computes every pattern with at least `min_occurrences`
    /// occurrences, replaces the language's stored patterns, and writes
    /// `<language>_patterns.json` atomically. Returns the patterns, most frequent first.
    pub fn consolidate_language(&self, language: &str, min_occurrences: u64) -> Result<Vec<Pattern>> {
        let language = canonical_language(language);
        let store = self.engine.store();
        // (failures per construct type, successes) per pattern, from the kept counts.
        let mut groups: BTreeMap<String, (BTreeMap<String, u64>, u64)> = BTreeMap::new();
        for t in store.tallies(&language)? {
            let Some(p) = t.error_pattern else { continue };
            let g = groups.entry(p).or_default();
            if t.success {
                g.1 += t.count;
            } else {
                *g.0.entry(t.construct_type).or_default() += t.count;
            }
        }
        let now = now_timestamp();
        let mut patterns = Vec::new();
        for (name, (by_construct, recovered)) in groups {
            let occurrences: u64 = by_construct.values().sum();
            if occurrences == 0 || occurrences < min_occurrences.max(1) {
                continue;
            }
            let construct_type = by_construct
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                .map(|(c, _)| c.clone())
                .unwrap_or_default();
            let evidence = store.evidence(&language, &name, MAX_LEARNING_HASHES)?;
            let (bad, good) = choose_examples(&evidence.failures, &evidence.successes, &construct_type);
            let (why_fails, how_to_fix) = explain(&name, &evidence.failures, &evidence.successes);
            let rate = (recovered as f64 / occurrences as f64).min(1.0);
            patterns.push(Pattern {
                pattern_name: name,
                language: language.clone(),
                construct_type,
                occurrence_count: occurrences,
                success_rate: (rate * 100.0).round() / 100.0,
                bad_example: bad.map(|l| l.generated_code.clone()).unwrap_or_default(),
                good_example: good.map(|l| l.generated_code.clone()).unwrap_or_default(),
                why_fails,
                how_to_fix,
                learning_hashes: newest_hashes(&evidence.failures, &evidence.successes),
                last_updated: now.clone(),
            });
        }
        patterns.sort_by(|a, b| {
            b.occurrence_count.cmp(&a.occurrence_count).then_with(|| a.pattern_name.cmp(&b.pattern_name))
        });
        store.replace_patterns(&language, &patterns)?;
        let json = serde_json::to_vec_pretty(&patterns).expect("patterns serialise");
        crate::atomic_file::write_atomically(&self.engine.patterns_file(&language), &json)?;
        Ok(patterns)
    }
}

/// The seed's "best bad/good example pair"; see the module documentation.
fn choose_examples<'l>(
    failures: &'l [Learning],
    successes: &'l [Learning],
    construct_type: &str,
) -> (Option<&'l Learning>, Option<&'l Learning>) {
    // Pairs of the pattern's own construct type first, then any.
    let ordered = successes
        .iter()
        .filter(|s| s.construct_type == construct_type)
        .chain(successes.iter().filter(|s| s.construct_type != construct_type));
    for s in ordered {
        let Some(run) = &s.run_id else { continue };
        let paired = failures
            .iter()
            .filter(|f| {
                f.run_id.as_ref() == Some(run)
                    && f.context.get(SUBJECT_KEY) == s.context.get(SUBJECT_KEY)
                    && f.attempt_number < s.attempt_number
            })
            .max_by_key(|f| f.attempt_number);
        if let Some(f) = paired {
            return (Some(f), Some(s));
        }
    }
    let prefer = |ls: &'l [Learning]| ls.iter().find(|l| l.construct_type == construct_type).or(ls.first());
    (prefer(failures), prefer(successes))
}

fn explain(name: &str, failures: &[Learning], successes: &[Learning]) -> (String, String) {
    let mut fixes: HashMap<&str, usize> = HashMap::new();
    for s in successes {
        if let Some(f) = s.fix_applied.as_deref().filter(|f| !f.trim().is_empty()) {
            *fixes.entry(f).or_default() += 1;
        }
    }
    let best_fix = fixes.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0))).map(|(f, _)| f);
    let (why, how) = match rule(name) {
        Some(r) => (r.why_fails.to_string(), r.how_to_fix.to_string()),
        None => {
            let message = failures
                .first()
                .and_then(|f| f.validation_errors.first())
                .map(|e| template(e))
                .unwrap_or_else(|| name.to_string());
            (
                format!("Validation rejected the code with: {message}"),
                "No rule describes this error yet; avoid what the bad example does.".to_string(),
            )
        }
    };
    match best_fix {
        Some(f) => (why, format!("{how} Fix that worked: {f}")),
        None => (why, how),
    }
}

fn newest_hashes(failures: &[Learning], successes: &[Learning]) -> Vec<String> {
    let mut all: Vec<&Learning> = failures.iter().chain(successes).collect();
    all.sort_by_cached_key(|l| std::cmp::Reverse(l.timestamp_millis().unwrap_or(0)));
    all.into_iter().take(MAX_LEARNING_HASHES).map(|l| l.hash.clone()).collect()
}
