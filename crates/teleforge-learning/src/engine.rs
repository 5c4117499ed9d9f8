//! [`LearningEngine`]: the seed's capture-and-query side, over any [`LearningStore`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::classify::{canonical_language, classify_output};
use crate::error::{Error, Result};
use crate::record::{now_timestamp, Learning, Pattern};
use crate::redact::redact;
use crate::store::{CaptureReport, LearningQuery, LearningStore, SqliteStore};

/// Environment variable that overrides the default storage folder.
pub const STORAGE_DIR_ENV: &str = "TELEMETRY_LEARNINGS_DIR";
/// The database file inside the storage folder.
pub const DATABASE_FILE: &str = "learnings.db";

/// The storage folder: `explicit` if given, else `$TELEMETRY_LEARNINGS_DIR`, else
/// `~/.telemetry_learnings` (the seed's default).
pub fn resolve_storage_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os(STORAGE_DIR_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")).unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".telemetry_learnings")
}

/// Counts for one construct type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConstructStats {
    pub total: u64,
    pub successes: u64,
    pub failures: u64,
}

/// The seed's statistics block for one language.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Statistics {
    pub language: String,
    pub total: u64,
    pub failures: u64,
    pub successes: u64,
    /// successes / total, 0 when there are none.
    pub success_rate: f64,
    pub by_construct_type: BTreeMap<String, ConstructStats>,
    /// Failed attempts per error pattern, most frequent first (as in the seed, these add up to
    /// `failures`: successes carry the pattern they recovered from but are not counted here).
    pub error_patterns: Vec<(String, u64)>,
    /// First attempts (attempt 1 of each subject) with learning on and with it off
    /// (`--no-learning`): the learning effect, measured.
    pub first_attempts: FirstAttempts,
}

/// First attempts and how many succeeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FirstAttemptRate {
    pub attempts: u64,
    pub successes: u64,
    /// successes / attempts; absent without attempts.
    pub rate: Option<f64>,
}

/// First-attempt success with learning on and off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FirstAttempts {
    pub with_learning: FirstAttemptRate,
    pub without_learning: FirstAttemptRate,
}

/// Learnings as [`LearningEngine::prepare_batch`] made them (redacted, classified, hashed,
/// checked). Only it builds one, so nothing unredacted reaches a store through
/// [`LearningEngine::store_batch`].
#[derive(Debug, Clone)]
pub struct PreparedBatch(Vec<Learning>);

impl PreparedBatch {
    pub fn learnings(&self) -> &[Learning] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Captures learnings and answers questions about them.
pub struct LearningEngine {
    store: Box<dyn LearningStore>,
    dir: PathBuf,
}

impl LearningEngine {
    /// Opens the SQLite store in `dir` (created if missing).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating the storage folder", &dir, e))?;
        let store = SqliteStore::open(&dir.join(DATABASE_FILE))?;
        Ok(Self::with_store(dir, Box::new(store)))
    }

    /// Opens the default storage folder (see [`resolve_storage_dir`]).
    pub fn open_default() -> Result<Self> {
        Self::open(resolve_storage_dir(None))
    }

    /// Uses any store; `dir` is where pattern files are written.
    pub fn with_store(dir: PathBuf, store: Box<dyn LearningStore>) -> Self {
        LearningEngine { store, dir }
    }

    /// The storage folder.
    pub fn storage_dir(&self) -> &Path {
        &self.dir
    }

    /// The underlying store.
    pub fn store(&self) -> &dyn LearningStore {
        self.store.as_ref()
    }

    /// Completes a learning before it is stored: canonical language name, secrets redacted, an
    /// error pattern classified from the errors when a failure has none, timestamp and hash filled
    /// in when empty. A hash that is already set (an imported record) is kept, so that exports and
    /// imports round-trip.
    pub fn prepare(&self, mut l: Learning) -> Learning {
        l.language = canonical_language(&l.language);
        l.generated_code = redact(&l.generated_code).into_owned();
        for e in &mut l.validation_errors {
            *e = redact(e).into_owned();
        }
        if let Some(f) = &mut l.fix_applied {
            *f = redact(f).into_owned();
        }
        for v in l.context.values_mut() {
            *v = redact(v).into_owned();
        }
        if !l.success && l.error_pattern.is_none() && !l.validation_errors.is_empty() {
            l.error_pattern = classify_output(&l.language, &l.validation_errors.join("\n")).map(|c| c.pattern);
        }
        if l.timestamp.is_empty() {
            l.timestamp = now_timestamp();
        }
        if l.hash.is_empty() {
            l.hash = l.content_hash();
        }
        l
    }

    /// Captures one learning durably and returns it as stored.
    pub fn capture(&self, learning: Learning) -> Result<Learning> {
        let (mut stored, _) = self.capture_batch(vec![learning])?;
        Ok(stored.pop().expect("one in, one out"))
    }

    /// Captures many learnings in one transaction: all are stored, or none.
    pub fn capture_batch(&self, learnings: Vec<Learning>) -> Result<(Vec<Learning>, CaptureReport)> {
        let prepared = self.prepare_batch(learnings)?;
        let report = self.store_batch(&prepared)?;
        Ok((prepared.0, report))
    }

    /// The first half of [`Self::capture_batch`]: every learning redacted, classified, hashed and
    /// checked, as it will be stored. A caller that cannot wait for the store (the instrumenter,
    /// which writes its output meanwhile) stores the batch later, on another thread, with
    /// [`Self::store_batch`].
    pub fn prepare_batch(&self, learnings: Vec<Learning>) -> Result<PreparedBatch> {
        let prepared: Vec<Learning> = learnings.into_iter().map(|l| self.prepare(l)).collect();
        for (i, l) in prepared.iter().enumerate() {
            l.validate(&format!("learning {}", i + 1))?;
        }
        Ok(PreparedBatch(prepared))
    }

    /// The second half of [`Self::capture_batch`]: one transaction, all stored or none.
    pub fn store_batch(&self, batch: &PreparedBatch) -> Result<CaptureReport> {
        self.store.capture(&batch.0)
    }

    /// Learnings matching `query`, newest first (the seed's `get_learnings`).
    pub fn learnings(&self, query: &LearningQuery) -> Result<Vec<Learning>> {
        let mut q = query.clone();
        q.language = q.language.map(|l| canonical_language(&l));
        self.store.learnings(&q)
    }

    /// Calls `f` with each learning matching `query`, oldest first when `oldest_first`, one at a
    /// time (an export of any size in flat memory).
    pub fn for_each_learning(
        &self,
        query: &LearningQuery,
        oldest_first: bool,
        f: &mut dyn FnMut(Learning) -> Result<()>,
    ) -> Result<()> {
        let mut q = query.clone();
        q.language = q.language.map(|l| canonical_language(&l));
        self.store.for_each_learning(&q, oldest_first, f)
    }

    /// The seed's statistics for one language.
    pub fn statistics(&self, language: &str) -> Result<Statistics> {
        let language = canonical_language(language);
        let mut s = Statistics { language: language.clone(), ..Default::default() };
        let mut patterns: BTreeMap<String, u64> = BTreeMap::new();
        for t in self.store.tallies(&language)? {
            let c = s.by_construct_type.entry(t.construct_type).or_default();
            c.total += t.count;
            s.total += t.count;
            if t.success {
                c.successes += t.count;
                s.successes += t.count;
            } else {
                c.failures += t.count;
                s.failures += t.count;
                if let Some(p) = t.error_pattern {
                    *patterns.entry(p).or_default() += t.count;
                }
            }
        }
        s.success_rate = if s.total == 0 { 0.0 } else { s.successes as f64 / s.total as f64 };
        for t in self.store.first_attempts(&language)? {
            let r =
                if t.learning { &mut s.first_attempts.with_learning } else { &mut s.first_attempts.without_learning };
            r.attempts += t.count;
            if t.success {
                r.successes += t.count;
            }
        }
        for r in [&mut s.first_attempts.with_learning, &mut s.first_attempts.without_learning] {
            r.rate = (r.attempts > 0).then(|| r.successes as f64 / r.attempts as f64);
        }
        s.error_patterns = patterns.into_iter().collect();
        s.error_patterns.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(s)
    }

    /// A short text of the newest attempts for one language and construct type, for prompts (the
    /// seed's `get_recent_context`). Empty when there are none.
    pub fn recent_context(&self, language: &str, construct_type: &str, limit: usize) -> Result<String> {
        let recent = self.learnings(&LearningQuery {
            language: Some(language.to_string()),
            construct_type: Some(construct_type.to_string()),
            limit: Some(limit),
            ..Default::default()
        })?;
        if recent.is_empty() {
            return Ok(String::new());
        }
        let mut out =
            format!("Recent {} {} validation results (newest first):\n", canonical_language(language), construct_type);
        for l in &recent {
            let pattern = l.error_pattern.as_deref().unwrap_or("no pattern");
            if l.success {
                let fix = l.fix_applied.as_deref().map(|f| format!(": {f}")).unwrap_or_default();
                if l.error_pattern.is_some() {
                    out.push_str(&format!("- attempt {} succeeded after {pattern}{fix}\n", l.attempt_number));
                } else {
                    out.push_str(&format!("- attempt {} succeeded{fix}\n", l.attempt_number));
                }
            } else {
                let first = l.validation_errors.first().map(|e| e.lines().next().unwrap_or("")).unwrap_or("");
                out.push_str(&format!("- attempt {} failed ({pattern}): {first}\n", l.attempt_number));
            }
        }
        Ok(out)
    }

    /// Deletes a language's learnings and patterns (store and pattern file); returns how many
    /// learnings went (the seed's `clear_learnings`).
    pub fn clear_language(&self, language: &str) -> Result<u64> {
        let language = crate::consolidate::checked_language(language)?;
        let n = self.store.clear(&language)?;
        let file = self.patterns_file(&language);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("removing", file, e)),
        }
        Ok(n)
    }

    /// A language's consolidated patterns, most frequent first (the seed's `load_patterns`).
    pub fn load_patterns(&self, language: &str) -> Result<Vec<Pattern>> {
        self.store.patterns(&canonical_language(language))
    }

    /// Sets the status of some of a language's patterns (what `patterns verify` found), in the
    /// store and in `<language>_patterns.json`. `None` puts a pattern back to what its evidence
    /// says. Unknown names are ignored. Returns the language's patterns as saved.
    pub fn set_pattern_status(
        &self,
        language: &str,
        updates: &[(String, Option<(crate::lesson::PatternStatus, String)>)],
    ) -> Result<Vec<Pattern>> {
        let language = crate::consolidate::checked_language(language)?;
        let mut patterns = self.store.patterns(&language)?;
        for p in &mut patterns {
            let Some((_, update)) = updates.iter().find(|(name, _)| *name == p.pattern_name) else { continue };
            (p.status, p.status_reason) = match update {
                Some((status, why)) => (*status, why.clone()),
                None => p.evidence.verdict(),
            };
        }
        self.store.replace_patterns(&language, &patterns, None)?;
        let json = serde_json::to_vec_pretty(&patterns).expect("patterns serialise");
        crate::atomic_file::write_atomically(&self.patterns_file(&language), &json)?;
        Ok(patterns)
    }

    /// Languages with learnings or patterns.
    pub fn languages(&self) -> Result<Vec<String>> {
        self.store.languages()
    }

    /// Where `<language>_patterns.json` is written.
    pub fn patterns_file(&self, language: &str) -> PathBuf {
        self.dir.join(format!("{}_patterns.json", canonical_language(language)))
    }
}

impl std::fmt::Debug for LearningEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LearningEngine").field("dir", &self.dir).finish_non_exhaustive()
    }
}
