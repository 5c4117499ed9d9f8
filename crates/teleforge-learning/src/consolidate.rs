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
//! - ours, beside those: `category`, and the lesson's `status`, `status_reason`, `evidence` and
//!   `lift` (see [`crate::lesson`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::classify::{canonical_language, category_of, rule, template::template};
use crate::engine::LearningEngine;
use crate::error::{Error, Result};
use crate::lesson::{lesson_id, PatternStatus};
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
    /// `<language>_patterns.json` atomically. Returns the patterns, most frequent first. Waits for
    /// an automatic consolidation of the same language by another process to finish first.
    pub fn consolidate_language(&self, language: &str, min_occurrences: u64) -> Result<Vec<Pattern>> {
        let language = checked_language(language)?;
        let _lock = self.lock(&language, true)?;
        let store = self.engine.store();
        let changes = store.changes_since(&language, store.consolidation_mark(&language)?)?;
        self.consolidate(&language, min_occurrences, None, changes.upto)
    }

    /// The seed's "automatic consolidation every N learnings": consolidates `language` when at
    /// least `every` learnings (and at least one) arrived since its last consolidation. Only one
    /// process consolidates a language at a time; a process that finds another one at it skips
    /// (the other covers what was stored so far, and the next run covers the rest). Patterns that
    /// no new learning touched keep their examples and hashes, with counts and evidence refreshed
    /// from kept tallies, so the cost grows with the new learnings and the number of patterns,
    /// not with the store.
    pub fn consolidate_if_due(&self, language: &str, every: u64, min_occurrences: u64) -> Result<AutoConsolidation> {
        let language = checked_language(language)?;
        let Some(_lock) = self.lock(&language, false)? else { return Ok(AutoConsolidation::Busy) };
        let store = self.engine.store();
        let changes = store.changes_since(&language, store.consolidation_mark(&language)?)?;
        if changes.learnings == 0 || changes.learnings < every {
            return Ok(AutoConsolidation::NotDue { new_learnings: changes.learnings });
        }
        let previous: HashMap<String, Pattern> =
            store.patterns(&language)?.into_iter().map(|p| (p.pattern_name.clone(), p)).collect();
        let touched: HashSet<String> = changes.patterns.into_iter().collect();
        let patterns = self.consolidate(&language, min_occurrences, Some((&previous, &touched)), changes.upto)?;
        Ok(AutoConsolidation::Done { patterns: patterns.len(), new_learnings: changes.learnings })
    }

    /// An advisory lock on the language's consolidation (a file beside the store): `wait` blocks
    /// until it is free, else `None` when another process holds it. Released when dropped.
    fn lock(&self, language: &str, wait: bool) -> Result<Option<std::fs::File>> {
        let path = self.engine.storage_dir().join(format!(".consolidate-{language}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("opening", &path, e))?;
        if wait {
            file.lock().map_err(|e| Error::io("locking", &path, e))?;
            return Ok(Some(file));
        }
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("locking", &path, e)),
        }
    }

    /// Computes the patterns; with `reuse`, patterns not in the touched set keep their stored
    /// examples, explanations and hashes.
    fn consolidate(
        &self,
        language: &str,
        min_occurrences: u64,
        reuse: Option<(&HashMap<String, Pattern>, &HashSet<String>)>,
        upto: i64,
    ) -> Result<Vec<Pattern>> {
        let store = self.engine.store();
        // (failures per construct type, successes) per pattern, from the kept counts.
        let mut groups: BTreeMap<String, (BTreeMap<String, u64>, u64)> = BTreeMap::new();
        for t in store.tallies(language)? {
            let Some(p) = t.error_pattern else { continue };
            let g = groups.entry(p).or_default();
            if t.success {
                g.1 += t.count;
            } else {
                *g.0.entry(t.construct_type).or_default() += t.count;
            }
        }
        let evidence_by_lesson = self.engine.lesson_evidence(language)?;
        // A verify found these stale; they stay so until a verify finds them true again.
        let stale: HashMap<String, String> = store
            .patterns(language)?
            .into_iter()
            .filter(|p| p.status == PatternStatus::Stale)
            .map(|p| (p.pattern_name, p.status_reason))
            .collect();
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
            let rate = (recovered as f64 / occurrences as f64).min(1.0);
            let kept = reuse.and_then(|(previous, touched)| {
                (!touched.contains(&name))
                    .then(|| previous.get(&name))
                    .flatten()
                    .filter(|p| p.construct_type == construct_type)
            });
            let mut pattern = match kept {
                Some(p) => p.clone(),
                None => {
                    let evidence = store.evidence(language, &name, MAX_LEARNING_HASHES)?;
                    let (bad, good) = choose_examples(&evidence.failures, &evidence.successes, &construct_type);
                    let (why_fails, how_to_fix) = explain(&name, &evidence.failures, &evidence.successes);
                    Pattern {
                        pattern_name: name.clone(),
                        language: language.to_string(),
                        construct_type,
                        bad_example: bad.map(|l| l.generated_code.clone()).unwrap_or_default(),
                        good_example: good.map(|l| l.generated_code.clone()).unwrap_or_default(),
                        why_fails,
                        how_to_fix,
                        learning_hashes: newest_hashes(&evidence.failures, &evidence.successes),
                        ..Default::default()
                    }
                }
            };
            pattern.occurrence_count = occurrences;
            pattern.success_rate = (rate * 100.0).round() / 100.0;
            pattern.last_updated = now.clone();
            pattern.category = category_of(&name).as_str().to_string();
            let evidence = evidence_by_lesson.get(&lesson_id(language, &name)).copied().unwrap_or_default();
            let (status, reason) = evidence.verdict();
            (pattern.status, pattern.status_reason) = match stale.get(&name) {
                Some(why) if status != PatternStatus::Retired => (PatternStatus::Stale, why.clone()),
                _ => (status, reason),
            };
            pattern.lift = evidence.lift().map(|l| (l * 1000.0).round() / 1000.0);
            pattern.evidence = evidence;
            patterns.push(pattern);
        }
        patterns.sort_by(|a, b| {
            b.occurrence_count.cmp(&a.occurrence_count).then_with(|| a.pattern_name.cmp(&b.pattern_name))
        });
        store.replace_patterns(language, &patterns, Some(upto))?;
        let json = serde_json::to_vec_pretty(&patterns).expect("patterns serialise");
        crate::atomic_file::write_atomically(&self.engine.patterns_file(language), &json)?;
        Ok(patterns)
    }
}

/// What [`LearningConsolidator::consolidate_if_due`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum AutoConsolidation {
    /// Consolidated: `patterns` kept, from `new_learnings` new learnings.
    Done { patterns: usize, new_learnings: u64 },
    /// Fewer new learnings than asked for.
    NotDue { new_learnings: u64 },
    /// Another process was consolidating this language; skipped.
    Busy,
}

/// The canonical language name, refused unless it is a plain name (it becomes part of file
/// names: `../x` must never reach the file system).
pub(crate) fn checked_language(language: &str) -> Result<String> {
    let canonical = canonical_language(language);
    if crate::record::is_name(&canonical) {
        Ok(canonical)
    } else {
        Err(Error::invalid(
            "--language",
            format!("{language:?} is not a language name (lowercase letters, digits, '_' or '-')"),
        ))
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
