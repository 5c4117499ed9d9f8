//! # teleforge-learning
//!
//! A persistent learning system for any generate → validate → retry loop. Every attempt is
//! captured as a [`Learning`]; failures are classified into error patterns; the
//! [`LearningConsolidator`] groups them into [`Pattern`]s with a bad example, a good example, why
//! it fails and how to fix it; and the next generation gets those patterns in its prompt, so each
//! run repeats fewer mistakes. The crate knows nothing of telemetry or parsing: the generated
//! code is opaque text.
//!
//! The seed's workflow, end to end:
//!
//! ```
//! use teleforge_learning::{Learning, LearningConsolidator, LearningEngine};
//!
//! # fn main() -> Result<(), teleforge_learning::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! let engine = LearningEngine::open(dir.path())?;
//!
//! // 1. Capture: a failure, then the retry that fixed it (twice, in two runs).
//! for run in ["run-1", "run-2"] {
//!     engine.capture(Learning {
//!         language: "go".into(),
//!         construct_type: "function".into(),
//!         attempt_number: 1,
//!         generated_code: "import \"telemetry_utils\"".into(),
//!         validation_errors: vec!["main.go:3:8: package telemetry_utils is not in std".into()],
//!         run_id: Some(run.into()),
//!         ..Default::default()
//!     })?; // success: false, so the error pattern is classified: go_import_error
//!     engine.capture(Learning {
//!         language: "go".into(),
//!         construct_type: "function".into(),
//!         attempt_number: 2,
//!         success: true,
//!         generated_code: "defer Tel.FuncExit(Tel.FuncEntry(\"main.Run\"))".into(),
//!         error_pattern: Some("go_import_error".into()),
//!         fix_applied: Some("Removed import statement, used Tel directly".into()),
//!         run_id: Some(run.into()),
//!         ..Default::default()
//!     })?;
//! }
//!
//! // 2. Statistics.
//! let stats = engine.statistics("go")?;
//! assert_eq!((stats.total, stats.failures, stats.successes), (4, 2, 2));
//!
//! // 3. Consolidate: also writes go_patterns.json into the storage folder.
//! let consolidator = LearningConsolidator::new(&engine);
//! let patterns = consolidator.consolidate_language("go", 2)?;
//! assert_eq!(patterns[0].pattern_name, "go_import_error");
//! assert_eq!(patterns[0].success_rate, 1.0);
//! assert!(dir.path().join("go_patterns.json").exists());
//!
//! // 4. Inject into the next prompt.
//! let injection = consolidator.generate_prompt_injection("go", "function", 3)?;
//! assert!(injection.contains("DON'T (failed validation)"));
//! assert!(injection.contains("import \"telemetry_utils\""));
//! # Ok(()) }
//! ```

mod atomic_file;
pub mod classify;
mod consolidate;
mod engine;
mod error;
mod inject;
pub mod interchange;
pub mod lesson;
mod record;
pub mod redact;
pub mod store;

pub use atomic_file::write_atomically;
pub use classify::{classify, classify_output, Category, Classification};
pub use consolidate::{AutoConsolidation, LearningConsolidator, DEFAULT_MIN_OCCURRENCES, MAX_LEARNING_HASHES};
pub use engine::{
    resolve_storage_dir, ConstructStats, FirstAttemptRate, FirstAttempts, LearningEngine, PreparedBatch, Statistics,
    DATABASE_FILE, STORAGE_DIR_ENV,
};
pub use error::{Error, Result};
pub use inject::{fenced, Injection, InjectionOptions};
pub use lesson::{LessonEvidence, PatternStatus, VariantLesson};
pub use record::{format_timestamp, now_timestamp, parse_timestamp, Learning, Pattern, SUBJECT_KEY};
pub use store::{LearningQuery, LearningStore, RunRecord, SqliteStore};
