//! The two records of the seed: a [`Learning`] (one validation attempt) and a [`Pattern`] (many
//! learnings consolidated). Field names and JSON shapes are the seed's own, so files written by the
//! seed's Python tools import unchanged and files we export read back there.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::lesson::{LessonEvidence, PatternStatus};

/// One validation attempt: what was generated, whether it validated, and what went wrong.
///
/// The first ten fields are the seed's. `run_id`, `generator` and `context` are ours: they tie
/// attempts of one run together (so a success can be paired with the failure it fixed), say which
/// model or template wrote the code, and carry features of the construct (file kind, whether it is a
/// method, ...) that ranking uses. They are omitted from JSON when empty, which keeps exports in the
/// seed's format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Learning {
    pub language: String,
    pub construct_type: String,
    pub attempt_number: u32,
    pub success: bool,
    pub generated_code: String,
    #[serde(default)]
    pub validation_errors: Vec<String>,
    #[serde(default)]
    pub error_pattern: Option<String>,
    #[serde(default)]
    pub fix_applied: Option<String>,
    /// ISO 8601, as the seed writes it (`2025-10-27T12:00:00`); UTC when no offset is given.
    #[serde(default)]
    pub timestamp: String,
    /// Content hash, 12 hex characters; see [`Learning::content_hash`].
    #[serde(default)]
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, String>,
}

/// The context key whose value names what an attempt was about (a construct, a file and line):
/// attempts of one run with the same subject are retries of each other, which is how the
/// consolidator pairs a failure with the success that fixed it.
pub const SUBJECT_KEY: &str = "subject";

impl Learning {
    /// The stable identity of a learning: the first 12 hex characters of SHA-256 over every field
    /// except `timestamp` and `hash`. Capturing the same attempt twice (same run, same code, same
    /// outcome) therefore stores it once, while the same mistake made again in a later run (a
    /// different `run_id`) counts again, as it should for `occurrence_count`.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        // Length-prefixed fields so that no two different records hash the same bytes.
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(self.language.as_bytes());
        field(self.construct_type.as_bytes());
        field(&self.attempt_number.to_le_bytes());
        field(&[self.success as u8]);
        field(self.generated_code.as_bytes());
        field(&(self.validation_errors.len() as u64).to_le_bytes());
        for e in &self.validation_errors {
            field(e.as_bytes());
        }
        field(self.error_pattern.as_deref().unwrap_or("\u{0}none").as_bytes());
        field(self.fix_applied.as_deref().unwrap_or("\u{0}none").as_bytes());
        field(self.run_id.as_deref().unwrap_or("\u{0}none").as_bytes());
        field(self.generator.as_deref().unwrap_or("\u{0}none").as_bytes());
        for (k, v) in &self.context {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        let digest = h.finalize();
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The timestamp as milliseconds since the Unix epoch, for ordering.
    pub fn timestamp_millis(&self) -> Result<i64> {
        parse_timestamp(&self.timestamp).map(|t| t.timestamp_millis()).ok_or_else(|| {
            Error::invalid("timestamp", format!("{:?} is not an ISO 8601 date and time", self.timestamp))
        })
    }

    /// Checks what the store relies on; `origin` names the record in the error (file and line).
    pub fn validate(&self, origin: &str) -> Result<()> {
        let bad = |problem: String| Err(Error::invalid(origin, problem));
        if !is_name(&self.language) {
            return bad(format!("language {:?} must be a non-empty lowercase name like \"go\"", self.language));
        }
        if self.construct_type.trim().is_empty() {
            return bad("construct_type is empty".into());
        }
        if self.attempt_number == 0 {
            return bad("attempt_number must be 1 or more".into());
        }
        if !self.success && self.validation_errors.is_empty() && self.error_pattern.is_none() {
            return bad("a failed learning needs validation_errors or an error_pattern".into());
        }
        if !self.timestamp.is_empty() && parse_timestamp(&self.timestamp).is_none() {
            return bad(format!("timestamp {:?} is not an ISO 8601 date and time", self.timestamp));
        }
        let hex = self.hash.len() <= 64 && self.hash.bytes().all(|b| b.is_ascii_hexdigit());
        if !self.hash.is_empty() && !hex {
            return bad(format!("hash {:?} must be hexadecimal", self.hash));
        }
        Ok(())
    }
}

/// A consolidated error pattern, in the seed's exact JSON shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pattern {
    pub pattern_name: String,
    pub language: String,
    pub construct_type: String,
    pub occurrence_count: u64,
    pub success_rate: f64,
    pub bad_example: String,
    pub good_example: String,
    pub why_fails: String,
    pub how_to_fix: String,
    pub learning_hashes: Vec<String>,
    pub last_updated: String,
    // Ours, beside the seed's fields (files without them still read).
    /// The cross-language category (`import`, `undefined_symbol`, `syntax`, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub category: String,
    /// Whether the pattern is applied; see [`crate::lesson`].
    #[serde(default)]
    pub status: PatternStatus,
    /// Why it has that status.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status_reason: String,
    /// First attempts with the pattern applied and without it, when last consolidated.
    #[serde(default)]
    pub evidence: LessonEvidence,
    /// Applied minus baseline first-attempt success rate; absent until both have samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lift: Option<f64>,
}

/// Language names are lowercase identifiers (`go`, `python`, `javascript`); they become file names.
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The current time in the seed's format (Python's `datetime.now().isoformat()`, in UTC).
pub fn now_timestamp() -> String {
    format_timestamp(Utc::now())
}

/// Formats like Python's `isoformat()`: seconds, plus microseconds when there are any.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    let naive = t.naive_utc();
    if naive.and_utc().timestamp_subsec_micros() == 0 {
        naive.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        naive.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    }
}

/// Accepts RFC 3339 (with an offset or `Z`) and the seed's naive form (taken as UTC).
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Learning {
        Learning {
            language: "go".into(),
            construct_type: "function".into(),
            attempt_number: 1,
            success: false,
            generated_code: "import \"telemetry_utils\"".into(),
            validation_errors: vec!["package telemetry_utils is not in std".into()],
            error_pattern: Some("go_import_error".into()),
            ..Default::default()
        }
    }

    #[test]
    fn hash_is_twelve_hex_and_ignores_timestamp() {
        let a = sample();
        let mut b = sample();
        b.timestamp = "2025-10-27T12:00:00".into();
        assert_eq!(a.content_hash().len(), 12);
        assert!(a.content_hash().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.content_hash(), b.content_hash());
    }

    #[test]
    fn hash_changes_with_content_and_run() {
        let a = sample();
        let mut b = sample();
        b.run_id = Some("run-2".into());
        let mut c = sample();
        c.attempt_number = 2;
        assert_ne!(a.content_hash(), b.content_hash());
        assert_ne!(a.content_hash(), c.content_hash());
    }

    #[test]
    fn hash_is_stable_across_builds() {
        // Pinned: a change here would split every existing store's identities in two.
        assert_eq!(sample().content_hash(), "09d204b8b832");
    }

    #[test]
    fn timestamps_in_both_seed_and_rfc3339_forms() {
        assert!(parse_timestamp("2025-10-27T12:00:00").is_some());
        assert!(parse_timestamp("2025-10-27T12:00:00.123456").is_some());
        assert!(parse_timestamp("2025-10-27T12:00:00+02:00").is_some());
        assert!(parse_timestamp("yesterday").is_none());
        let t = parse_timestamp("2025-10-27T12:00:00").unwrap();
        assert_eq!(format_timestamp(t), "2025-10-27T12:00:00");
    }

    #[test]
    fn validation_names_the_problem() {
        let mut l = sample();
        l.attempt_number = 0;
        let err = l.validate("line 3").unwrap_err().to_string();
        assert!(err.starts_with("line 3: attempt_number"), "{err}");
        let mut l = sample();
        l.language = "Go Lang".into();
        assert!(l.validate("x").is_err());
        assert!(sample().validate("x").is_ok());
    }
}
