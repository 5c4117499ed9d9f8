//! The seed's file formats: `<language>_learnings.json` (a JSON array of learnings) and JSON Lines
//! (one learning per line, so that scripts in any language can stream records in). Parsing checks
//! every record and names the one at fault by line, so an import can be all or nothing.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::record::{Learning, Pattern};

/// Parses a JSON array or JSON Lines text of learnings. `origin` names the source in errors
/// (`learnings.jsonl`, `stdin`). Every record is checked with [`Learning::validate`].
pub fn parse_learnings(text: &str, origin: &str) -> Result<Vec<Learning>> {
    let trimmed = text.trim_start_matches('\u{feff}');
    if trimmed.trim_start().starts_with('[') {
        parse_array(trimmed, origin)
    } else {
        parse_lines(trimmed, origin)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

fn parse_array(text: &str, origin: &str) -> Result<Vec<Learning>> {
    let raws: Vec<&RawValue> = serde_json::from_str(text)
        .map_err(|e| Error::invalid(format!("{origin}:{}", e.line()), format!("not a JSON array of learnings: {e}")))?;
    let mut out = Vec::with_capacity(raws.len());
    for (i, raw) in raws.iter().enumerate() {
        let offset = raw.get().as_ptr() as usize - text.as_ptr() as usize;
        let at = format!("{origin}:{} (record {})", line_of(text, offset), i + 1);
        let l = deserialize(raw.get(), &at)?;
        l.validate(&at)?;
        out.push(l);
    }
    Ok(out)
}

fn parse_lines(text: &str, origin: &str) -> Result<Vec<Learning>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{origin}:{}", i + 1);
        let l = deserialize(line, &at)?;
        l.validate(&at)?;
        out.push(l);
    }
    Ok(out)
}

/// One record, with the field at fault named (`attempt_number: invalid type: string "one"`).
fn deserialize(text: &str, at: &str) -> Result<Learning> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = strip_position(e.inner());
        if path == "." {
            Error::invalid(at, inner)
        } else {
            Error::invalid(at, format!("{path}: {inner}"))
        }
    })
}

/// serde's message without its " at line 1 column 7" (our origin already says where).
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The seed's ten learning fields, borrowed, for exports the seed's own tools can read.
#[derive(Serialize)]
struct SeedLearning<'a> {
    language: &'a str,
    construct_type: &'a str,
    attempt_number: u32,
    success: bool,
    generated_code: &'a str,
    validation_errors: &'a [String],
    error_pattern: &'a Option<String>,
    fix_applied: &'a Option<String>,
    timestamp: &'a str,
    hash: &'a str,
}

/// Renders learnings as a pretty JSON array (serde_json's pretty layout): the seed's fields only, or
/// with ours when `full`. The same bytes as [`write_learnings_json`], which it uses.
pub fn learnings_to_json(learnings: &[Learning], full: bool) -> String {
    let mut out = Vec::new();
    // Writing to memory cannot fail, and a learning is strings, numbers and a string map, which
    // always serialise; the empty fallback is unreachable.
    let _ = write_learnings_json(&mut out, learnings.iter().map(Ok), full);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes learnings as a pretty JSON array, one record at a time, so an export holds one record in
/// memory rather than the whole file. Returns how many were written; the first error from
/// `learnings` or from the writer stops it.
pub fn write_learnings_json<W: std::io::Write, L: std::borrow::Borrow<Learning>>(
    out: &mut W,
    learnings: impl IntoIterator<Item = Result<L>>,
    full: bool,
) -> Result<usize> {
    let io = |e: std::io::Error| Error::io("writing", "the learnings export", e);
    let mut count = 0usize;
    for learning in learnings {
        let learning = learning?;
        let learning = learning.borrow();
        let text = if full {
            serde_json::to_string_pretty(&learning)
        } else {
            serde_json::to_string_pretty(&SeedLearning::from(learning))
        }
        .map_err(|e| Error::invalid(learning.hash.clone(), format!("cannot be written as JSON: {e}")))?;
        out.write_all(if count == 0 { b"[\n" } else { b",\n" }).map_err(io)?;
        // Nested one level, as serde_json's pretty printer indents array elements (JSON strings
        // hold no raw newline, so every line break here is structural).
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                out.write_all(b"\n").map_err(io)?;
            }
            out.write_all(b"  ").map_err(io)?;
            out.write_all(line.as_bytes()).map_err(io)?;
        }
        count += 1;
    }
    out.write_all(if count == 0 { b"[]" } else { b"\n]" }).map_err(io)?;
    Ok(count)
}

impl<'a> From<&'a Learning> for SeedLearning<'a> {
    fn from(l: &'a Learning) -> Self {
        SeedLearning {
            language: &l.language,
            construct_type: &l.construct_type,
            attempt_number: l.attempt_number,
            success: l.success,
            generated_code: &l.generated_code,
            validation_errors: &l.validation_errors,
            error_pattern: &l.error_pattern,
            fix_applied: &l.fix_applied,
            timestamp: &l.timestamp,
            hash: &l.hash,
        }
    }
}

/// Parses a `<language>_patterns.json` file.
pub fn parse_patterns(text: &str, origin: &str) -> Result<Vec<Pattern>> {
    serde_json::from_str(text).map_err(|e| Error::invalid(format!("{origin}:{}", e.line()), strip_position(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"[
  {
    "language": "go",
    "construct_type": "function",
    "attempt_number": 1,
    "success": false,
    "generated_code": "import \"telemetry_utils\"...",
    "validation_errors": ["package telemetry_utils is not in std"],
    "error_pattern": "go_import_error",
    "fix_applied": null,
    "timestamp": "2025-10-27T12:00:00",
    "hash": "abc123def456"
  }
]"#;

    #[test]
    fn seed_example_round_trips() {
        let ls = parse_learnings(SEED, "go_learnings.json").unwrap();
        assert_eq!(ls.len(), 1);
        let out = learnings_to_json(&ls, false);
        let a: serde_json::Value = serde_json::from_str(SEED).unwrap();
        let b: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(a, b);
        // Same keys in the seed's order, and a second trip is byte-identical.
        assert_eq!(learnings_to_json(&parse_learnings(&out, "again").unwrap(), false), out);
        let keys: Vec<&str> = out.lines().filter_map(|l| l.trim().strip_prefix('"')?.split('"').next()).collect();
        assert_eq!(&keys[..3], ["language", "construct_type", "attempt_number"]);
    }

    #[test]
    fn json_lines_name_the_bad_line() {
        let text = format!(
            "{}\n\n{{\"language\": \"go\"}}\n",
            SEED.trim_start_matches('[').trim_end_matches(']').replace('\n', "")
        );
        let err = parse_learnings(&text, "in.jsonl").unwrap_err().to_string();
        assert!(err.starts_with("in.jsonl:3: missing field"), "{err}");
    }

    #[test]
    fn array_errors_name_line_and_record() {
        let bad = SEED.replace("\"attempt_number\": 1", "\"attempt_number\": 0");
        let text = format!("[{}, {}]", &SEED[1..SEED.len() - 1], &bad[1..bad.len() - 1]);
        let err = parse_learnings(&text, "f.json").unwrap_err().to_string();
        assert!(err.starts_with("f.json:15 (record 2): attempt_number"), "{err}");
    }

    #[test]
    fn streamed_export_matches_the_whole_file_form() {
        let one = parse_learnings(SEED, "go_learnings.json").unwrap();
        let mut second = one[0].clone();
        second.hash = "fedcba654321".into();
        second.validation_errors = vec!["line one\nline two \"quoted\"".into()];
        second.context.insert("subject".into(), "main.f".into());
        let two = vec![one[0].clone(), second];
        for learnings in [Vec::new(), one, two] {
            for full in [false, true] {
                let mut out = Vec::new();
                let n = write_learnings_json(&mut out, learnings.iter().cloned().map(Ok), full).unwrap();
                assert_eq!(n, learnings.len());
                // Exactly serde_json's pretty form of the whole array.
                let whole = if full {
                    serde_json::to_string_pretty(&learnings).unwrap()
                } else {
                    let seed: Vec<SeedLearning<'_>> = learnings.iter().map(SeedLearning::from).collect();
                    serde_json::to_string_pretty(&seed).unwrap()
                };
                assert_eq!(String::from_utf8(out).unwrap(), whole, "full={full}");
                assert_eq!(learnings_to_json(&learnings, full), whole);
            }
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let text = SEED.replace("\"hash\"", "\"hsah\"");
        assert!(parse_learnings(&text, "f.json").is_err());
    }
}
