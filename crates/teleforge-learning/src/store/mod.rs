//! Where learnings and patterns live. Callers (the engine, the consolidator) see only the
//! [`LearningStore`] trait, so a PostgreSQL store can be added beside [`SqliteStore`] without
//! touching them. Stores persist and query; they never format output or compute patterns.

mod sqlite;

pub use sqlite::SqliteStore;

use crate::error::Result;
use crate::record::{Learning, Pattern};

/// Filters for [`LearningStore::learnings`]. Results come newest first.
#[derive(Debug, Clone, Default)]
pub struct LearningQuery {
    pub language: Option<String>,
    pub construct_type: Option<String>,
    pub error_pattern: Option<String>,
    pub only_failures: bool,
    pub only_successes: bool,
    pub limit: Option<usize>,
}

/// How many learnings share one (construct type, error pattern, outcome). Stores keep these
/// counts up to date on every write, so statistics cost the number of groups, not of learnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub construct_type: String,
    pub error_pattern: Option<String>,
    pub success: bool,
    pub count: u64,
}

/// What a batch capture did: learnings already present (same hash) are skipped, not duplicated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureReport {
    pub inserted: usize,
    pub duplicates: usize,
}

/// The newest learnings behind one error pattern, from which the consolidator picks examples.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub failures: Vec<Learning>,
    pub successes: Vec<Learning>,
}

/// First attempts of one construct type, split by whether lessons were read and applied in that
/// run and by outcome: the baseline a lesson's lift is measured against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstAttemptTally {
    pub construct_type: String,
    /// False for runs with learning switched off (`--no-learning`).
    pub learning: bool,
    pub success: bool,
    pub count: u64,
}

/// First attempts that a lesson was applied to (injected into the prompt, or used to order the
/// variants tried), by outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationTally {
    /// `language/pattern_name` of the lesson (a borrowed lesson keeps its own language).
    pub lesson: String,
    pub construct_type: String,
    pub success: bool,
    pub count: u64,
}

/// What became of one variant (a template form, say) in one context signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantOutcome {
    pub signature: String,
    pub variant: String,
    pub failures: u64,
    pub successes: u64,
    /// Whether the failures came from more than one run or file.
    pub spread: bool,
    /// The error pattern of the newest failure.
    pub pattern: Option<String>,
}

/// Learnings captured after a consolidation mark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The newest learning's position (the next mark).
    pub upto: i64,
    pub learnings: u64,
    /// Error patterns those learnings carry.
    pub patterns: Vec<String>,
}

/// What one run of a generate → validate loop did: when, who generated, whether lessons were
/// applied, and its counts (named by the caller: `constructs_found`, `compiler_runs`, ...), so
/// dashboards can show runs over time without reading every learning.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    /// ISO 8601, like learnings' timestamps.
    pub started: String,
    pub finished: String,
    /// `template`, or the model (`openai/gpt-4o-mini`).
    pub generator: String,
    /// Whether lessons were read and applied.
    pub learning: bool,
    /// Languages the run captured learnings for.
    pub languages: Vec<String>,
    pub counts: std::collections::BTreeMap<String, u64>,
}

/// Durable storage of learnings and consolidated patterns.
///
/// Every write is atomic: a batch is stored whole or not at all, and a write that returned `Ok` has
/// reached stable storage.
pub trait LearningStore: Send + Sync {
    /// Stores complete learnings (hash and timestamp filled in) in one transaction.
    fn capture(&self, learnings: &[Learning]) -> Result<CaptureReport>;
    /// Learnings matching `query`, newest first.
    fn learnings(&self, query: &LearningQuery) -> Result<Vec<Learning>>;
    /// Calls `f` with each learning matching `query` (its `limit` honoured), oldest first when
    /// `oldest_first`, else newest first, one at a time: memory stays flat whatever the count.
    /// Stops at the first error `f` returns.
    fn for_each_learning(
        &self,
        query: &LearningQuery,
        oldest_first: bool,
        f: &mut dyn FnMut(Learning) -> Result<()>,
    ) -> Result<()>;
    /// The learnings whose hash starts with `prefix`.
    fn find(&self, prefix: &str) -> Result<Vec<Learning>>;
    /// Counts per (construct type, error pattern, outcome) for one language.
    fn tallies(&self, language: &str) -> Result<Vec<Tally>>;
    /// The newest `limit` failures and successes that carry `pattern` in `language`.
    fn evidence(&self, language: &str, pattern: &str, limit: usize) -> Result<Evidence>;
    /// Languages that have learnings or patterns.
    fn languages(&self) -> Result<Vec<String>>;
    /// Deletes a language's learnings and patterns; returns how many learnings went.
    fn clear(&self, language: &str) -> Result<u64>;
    /// Replaces a language's consolidated patterns and, with `upto`, moves its consolidation mark
    /// there in the same transaction.
    fn replace_patterns(&self, language: &str, patterns: &[Pattern], upto: Option<i64>) -> Result<()>;
    /// First attempts per construct type, learning on or off, and outcome.
    fn first_attempts(&self, language: &str) -> Result<Vec<FirstAttemptTally>>;
    /// First attempts per applied lesson.
    fn applications(&self, language: &str) -> Result<Vec<ApplicationTally>>;
    /// Variant outcomes with at least `min_failures` failures.
    fn variant_outcomes(&self, language: &str, min_failures: u64) -> Result<Vec<VariantOutcome>>;
    /// Where the language's last consolidation stopped (0 before the first).
    fn consolidation_mark(&self, language: &str) -> Result<i64>;
    /// What was captured in `language` after `after`.
    fn changes_since(&self, language: &str, after: i64) -> Result<Changes>;
    /// Records (or replaces) a run's summary.
    fn record_run(&self, run: &RunRecord) -> Result<()>;
    /// Runs, newest first.
    fn runs(&self, limit: Option<usize>) -> Result<Vec<RunRecord>>;
    /// A language's consolidated patterns, most frequent first.
    fn patterns(&self, language: &str) -> Result<Vec<Pattern>>;
}
