//! Lessons and the evidence that keeps them honest.
//!
//! A pattern is a lesson once something acts on it: a generator's prompt carries it, or a
//! generator tries variants in an order it decided. Every first attempt records the lessons
//! applied to it (context key [`APPLIED_KEY`], a JSON array of lesson ids `language/pattern`),
//! and whether learning was on at all ([`LEARNING_KEY`] = `off` under `--no-learning`). The store
//! keeps the counts as it captures, so a lesson's evidence costs a few rows to read:
//!
//! - *applied*: first attempts the lesson was applied to, and how many of them succeeded;
//! - *baseline*: every other first attempt of the same language and construct types, and how many
//!   succeeded;
//! - *lift*: applied success rate minus baseline success rate.
//!
//! A lesson is retired when, over at least [`MIN_SAMPLES`] applications, the Wilson score
//! interval (95%) of its applied success rate lies wholly below the baseline rate: it is confidently
//! not helping. Fewer samples, or an interval that still reaches the baseline, is "no lift yet",
//! and the lesson stays active.
//!
//! Variant lessons are the smallest unit: "variant V failed in context S". One acts (moves V
//! later in the order tried) only with at least the configured number of failures, from more than
//! one run or file, no success of V in S ever, and an active pattern behind its newest failure.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::classify::canonical_language;
use crate::engine::LearningEngine;
use crate::error::Result;

/// Context key listing the lessons applied to an attempt: a JSON array of `language/pattern`.
pub const APPLIED_KEY: &str = "applied";
/// Context key that is `off` when the attempt was made with learning switched off.
pub const LEARNING_KEY: &str = "learning";
/// Context key of the context signature a variant was tried in.
pub const SIGNATURE_KEY: &str = "signature";
/// Context key of the variant (a template form's id, say) an attempt used.
pub const VARIANT_KEY: &str = "form";
/// Context key of the source file an attempt was about (for "more than one file").
pub const FILE_KEY: &str = "file";

/// Fewest applications before a lesson can be retired for not helping.
pub const MIN_SAMPLES: u64 = 30;

/// Whether a pattern is used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternStatus {
    /// Injected into prompts and used to order variants.
    #[default]
    Active,
    /// Kept for the record, never applied: the evidence says it does not help.
    Retired,
    /// Kept for the record, never applied: replayed through today's toolchain (`teleforge patterns
    /// verify`), its failing example now validates or its fixing example no longer does.
    /// Consolidation keeps it stale until a verify finds it true again.
    Stale,
}

impl PatternStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PatternStatus::Active => "active",
            PatternStatus::Retired => "retired",
            PatternStatus::Stale => "stale",
        }
    }
}

/// The id a lesson is counted under: `language/pattern`.
pub fn lesson_id(language: &str, pattern: &str) -> String {
    format!("{}/{pattern}", canonical_language(language))
}

/// First-attempt outcomes with a lesson applied and without it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LessonEvidence {
    pub applied: u64,
    pub applied_successes: u64,
    pub baseline: u64,
    pub baseline_successes: u64,
}

impl LessonEvidence {
    /// Applied success rate minus baseline success rate; `None` until both have samples.
    pub fn lift(&self) -> Option<f64> {
        (self.applied > 0 && self.baseline > 0).then(|| {
            self.applied_successes as f64 / self.applied as f64 - self.baseline_successes as f64 / self.baseline as f64
        })
    }

    /// The status the evidence supports, and why.
    pub fn verdict(&self) -> (PatternStatus, String) {
        if self.applied < MIN_SAMPLES || self.baseline == 0 {
            return (PatternStatus::Active, format!("{} of {MIN_SAMPLES} applications needed to judge", self.applied));
        }
        let (_, upper) = wilson(self.applied_successes, self.applied);
        let baseline = self.baseline_successes as f64 / self.baseline as f64;
        if upper < baseline {
            (
                PatternStatus::Retired,
                format!(
                    "no lift: first-attempt success {:.0}% (at most {:.0}% at 95%) when applied vs {:.0}% without, over {} applications",
                    100.0 * self.applied_successes as f64 / self.applied as f64,
                    100.0 * upper,
                    100.0 * baseline,
                    self.applied
                ),
            )
        } else {
            (PatternStatus::Active, "no evidence against it".to_string())
        }
    }
}

/// The Wilson score interval (95%) of `successes` out of `n`; (0, 1) when `n` is 0.
pub fn wilson(successes: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    const Z: f64 = 1.96;
    let n_f = n as f64;
    let p = successes.min(n) as f64 / n_f;
    let denom = 1.0 + Z * Z / n_f;
    let centre = (p + Z * Z / (2.0 * n_f)) / denom;
    let half = Z * (p * (1.0 - p) / n_f + Z * Z / (4.0 * n_f * n_f)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// "Variant `variant` fails in context `signature`", backed by the pattern `lesson`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantLesson {
    pub signature: String,
    pub variant: String,
    /// `language/pattern` of the pattern behind the newest failure.
    pub lesson: String,
    pub failures: u64,
}

/// First attempts per construct type: (total, successes).
type Baseline = BTreeMap<String, (u64, u64)>;

impl LearningEngine {
    /// The evidence of every lesson applied in `language` (borrowed ones under their own id).
    pub fn lesson_evidence(&self, language: &str) -> Result<HashMap<String, LessonEvidence>> {
        let language = canonical_language(language);
        let mut firsts: Baseline = BTreeMap::new();
        for t in self.store().first_attempts(&language)? {
            let e = firsts.entry(t.construct_type).or_default();
            e.0 += t.count;
            if t.success {
                e.1 += t.count;
            }
        }
        // (lesson, construct type) → (applied, applied successes)
        let mut applied: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
        for t in self.store().applications(&language)? {
            let e = applied.entry((t.lesson, t.construct_type)).or_default();
            e.0 += t.count;
            if t.success {
                e.1 += t.count;
            }
        }
        let mut out: HashMap<String, LessonEvidence> = HashMap::new();
        for ((lesson, construct_type), (n, s)) in applied {
            let (total, total_s) = firsts.get(&construct_type).copied().unwrap_or_default();
            let e = out.entry(lesson).or_default();
            e.applied += n;
            e.applied_successes += s;
            e.baseline += total.saturating_sub(n);
            e.baseline_successes += total_s.saturating_sub(s);
        }
        Ok(out)
    }

    /// The variant lessons of `language` that may act now: at least `min_failures` failures of
    /// the variant in the context, from more than one run or file, no success of it there, and an
    /// active consolidated pattern behind them.
    pub fn variant_lessons(&self, language: &str, min_failures: u64) -> Result<Vec<VariantLesson>> {
        let language = canonical_language(language);
        let active: HashMap<String, bool> = self
            .load_patterns(&language)?
            .into_iter()
            .map(|p| (p.pattern_name, p.status == PatternStatus::Active))
            .collect();
        Ok(self
            .store()
            .variant_outcomes(&language, min_failures.max(1))?
            .into_iter()
            .filter(|o| o.successes == 0 && o.spread)
            .filter_map(|o| {
                let pattern = o.pattern?;
                active.get(&pattern).copied().unwrap_or(false).then(|| VariantLesson {
                    signature: o.signature,
                    variant: o.variant,
                    lesson: lesson_id(&language, &pattern),
                    failures: o.failures,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_interval_brackets_the_rate() {
        let (lo, hi) = wilson(8, 10);
        assert!(lo < 0.8 && 0.8 < hi, "{lo} {hi}");
        assert!((lo - 0.490).abs() < 0.01 && (hi - 0.943).abs() < 0.01, "{lo} {hi}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn few_samples_are_no_lift_yet_not_harm() {
        let e = LessonEvidence { applied: 10, applied_successes: 0, baseline: 1000, baseline_successes: 990 };
        assert_eq!(e.verdict().0, PatternStatus::Active);
    }

    #[test]
    fn a_lesson_confidently_below_the_baseline_is_retired() {
        let e = LessonEvidence { applied: 40, applied_successes: 10, baseline: 1000, baseline_successes: 900 };
        let (status, why) = e.verdict();
        assert_eq!(status, PatternStatus::Retired, "{why}");
        assert!((e.lift().unwrap() - (0.25 - 0.9)).abs() < 1e-9);
        let helping = LessonEvidence { applied: 40, applied_successes: 39, baseline: 1000, baseline_successes: 600 };
        assert_eq!(helping.verdict().0, PatternStatus::Active);
        // Slightly below, but the interval still reaches the baseline: no lift yet.
        let unclear = LessonEvidence { applied: 40, applied_successes: 32, baseline: 1000, baseline_successes: 850 };
        assert_eq!(unclear.verdict().0, PatternStatus::Active);
    }
}
