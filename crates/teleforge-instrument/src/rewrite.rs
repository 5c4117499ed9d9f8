//! Applying insertions, and taking them out again.
//!
//! Every inserted piece of text is wrapped in markers (`/*tf{*/ … /*}tf*/` in Go and JavaScript,
//! where block comments exist), so `strip` removes exactly what teleforge added without any state
//! kept elsewhere: instrument then strip gives back the original bytes.

use std::sync::LazyLock;

use regex::Regex;

use crate::construct::Edit;

/// Opening marker of inserted text in languages with block comments.
pub const OPEN: &str = "/*tf{*/";
/// Closing marker.
pub const CLOSE: &str = "/*}tf*/";

/// Wraps `text` in markers.
pub fn marked(text: &str) -> String {
    format!("{OPEN}{text}{CLOSE}")
}

/// Applies insertions to `source`. Edits at the same offset keep their given order.
pub fn apply(source: &str, edits: &[&Edit]) -> String {
    let mut sorted: Vec<&&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| e.offset);
    let extra: usize = sorted.iter().map(|e| e.text.len()).sum();
    let mut out = String::with_capacity(source.len() + extra);
    let mut at = 0;
    for e in sorted {
        out.push_str(&source[at..e.offset]);
        out.push_str(&e.text);
        at = e.offset;
    }
    out.push_str(&source[at..]);
    out
}

/// True when `source` holds text inserted by teleforge.
pub fn is_instrumented(source: &str) -> bool {
    source.contains(OPEN)
}

/// Removes every marked insertion.
pub fn strip_marked(source: &str) -> String {
    static MARKED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(&format!("{}.*?{}", regex::escape(OPEN), regex::escape(CLOSE))).unwrap());
    MARKED.replace_all(source, "").into_owned()
}

/// The inserted text without its markers (what a learning records as generated code).
pub fn strip_markers_only(text: &str) -> String {
    text.replace(OPEN, "").replace(CLOSE, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_then_strip_is_identity() {
        let src = "func f() {\n\treturn\n}\n";
        let a = Edit { offset: 10, text: marked(" defer x();") };
        let b = Edit { offset: 10, text: marked(" y();") };
        let out = apply(src, &[&a, &b]);
        assert_eq!(out, "func f() {/*tf{*/ defer x();/*}tf*//*tf{*/ y();/*}tf*/\n\treturn\n}\n");
        assert!(is_instrumented(&out));
        assert_eq!(strip_marked(&out), src);
    }
}
