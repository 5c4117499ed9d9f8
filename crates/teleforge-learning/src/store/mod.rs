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

/// Durable storage of learnings and consolidated patterns.
///
/// Every write is atomic: a batch is stored whole or not at all, and a write that returned `Ok` has
/// reached stable storage.
pub trait LearningStore: Send + Sync {
    /// Stores complete learnings (hash and timestamp filled in) in one transaction.
    fn capture(&self, learnings: &[Learning]) -> Result<CaptureReport>;
    /// Learnings matching `query`, newest first.
    fn learnings(&self, query: &LearningQuery) -> Result<Vec<Learning>>;
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
    /// Replaces a language's consolidated patterns.
    fn replace_patterns(&self, language: &str, patterns: &[Pattern]) -> Result<()>;
    /// A language's consolidated patterns, most frequent first.
    fn patterns(&self, language: &str) -> Result<Vec<Pattern>>;
}
