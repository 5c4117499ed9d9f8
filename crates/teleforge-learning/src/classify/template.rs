//! Naming diagnostics that no rule knows, by their message template.
//!
//! The message is reduced to its fixed words: locations, quoted text, paths, numbers and
//! identifiers are masked, so `undefined frob "x" at a.go:3` and `undefined frob "y" at b.go:9`
//! share one template. The pattern name is `<prefix>_msg_<first words>_<8 hex of SHA-256 of the
//! template>`: readable, and the same in every run and process. The category is guessed from the
//! template's words and written into the name's words, so it survives without a table.

use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use super::Category;

const QUOTED: &str = "‹q›";
const PATH: &str = "‹path›";
const NUMBER: &str = "‹n›";
const IDENT: &str = "‹id›";

/// The masked message template of a diagnostic.
pub fn template(diagnostic: &str) -> String {
    static LOCATION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"^(?:vet: )?[^\s:]+:\d+(?::\d+)?:\s*|^\s*File "[^"]*", line \d+,?\s*"#).unwrap());
    static QUOTES: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#""(?:[^"\\]|\\.)*"|'[^'\n]*'|`[^`\n]*`|«[^»]*»"#).unwrap());
    static PATHS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:[A-Za-z]:)?(?:\.{0,2}/)?(?:[\w.@-]+/)+[\w.@-]*|\b[\w-]+\.(?:go|py|js|mjs|cjs|ts)\b").unwrap()
    });
    static NUMBERS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b0x[0-9a-fA-F]+\b|\b\d+(?:\.\d+)?\b").unwrap());
    static WORDS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*").unwrap());
    static SPACES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+").unwrap());

    let first = diagnostic.lines().next().unwrap_or("").trim();
    let s = LOCATION.replace(first, "");
    let s = QUOTES.replace_all(&s, QUOTED);
    let s = PATHS.replace_all(&s, PATH);
    let s = NUMBERS.replace_all(&s, NUMBER);
    let s = WORDS.replace_all(&s, |c: &regex::Captures<'_>| {
        let w = &c[0];
        if is_identifier_like(w) {
            IDENT.to_string()
        } else {
            w.to_string()
        }
    });
    SPACES.replace_all(s.trim(), " ").into_owned()
}

/// Words of prose stay; names of code go. A word is code when it has a dot, an underscore, a
/// digit, a `$`, or a capital letter after its first letter — except error class names
/// (`SyntaxError`), which are part of the message.
fn is_identifier_like(w: &str) -> bool {
    if w.ends_with("Error") || w.ends_with("Exception") || w.ends_with("Warning") {
        return false;
    }
    w.contains(['.', '_', '$'])
        || w.bytes().any(|b| b.is_ascii_digit())
        || w.bytes().skip(1).any(|b| b.is_ascii_uppercase())
}

/// Guesses a category from a template's words.
pub fn guess_category(template: &str) -> Category {
    let t = template.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if has(&["indent", "tab"]) {
        Category::Indentation
    } else if has(&["syntax", "unexpected", "expected", "parse", "unterminated", "invalid character"]) {
        Category::Syntax
    } else if has(&["import", "module", "package", "require"]) {
        Category::Import
    } else if has(&["undefined", "not defined", "undeclared", "unknown name", "no such"]) {
        Category::UndefinedSymbol
    } else if has(&["unused", "not used", "never used"]) {
        Category::Unused
    } else if has(&["redeclared", "already declared", "already defined", "redefinition", "duplicate"]) {
        Category::Redeclared
    } else if has(&["type", "cannot convert", "mismatch", "argument"]) {
        Category::Type
    } else {
        Category::Other
    }
}

/// The pattern name and guessed category for an unknown diagnostic.
pub fn pattern_name(prefix: &str, diagnostic: &str) -> (String, Category) {
    let template = template(diagnostic);
    let category = guess_category(&template);
    let words: Vec<String> = template
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && !matches!(*w, "q" | "path" | "n" | "id"))
        .take(5)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let digest = Sha256::digest(template.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let slug = if words.is_empty() { "unknown".to_string() } else { words.join("_") };
    (format!("{prefix}_msg_{slug}_{hex}"), category)
}

/// The category of a template-named pattern, re-guessed from the words kept in its name.
pub(super) fn category_in_name(pattern: &str) -> Option<Category> {
    let (_, rest) = pattern.split_once("_msg_")?;
    let words = rest.rsplit_once('_').map_or(rest, |(w, _)| w).replace('_', " ");
    Some(guess_category(&words))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_locations_quotes_paths_numbers_and_identifiers() {
        assert_eq!(
            template("./pkg/a.go:12:3: cannot frob \"thing\" in pkg/sub/file.go 42 times via fooBar.baz"),
            "cannot frob ‹q› in ‹path› ‹n› times via ‹id›"
        );
        assert_eq!(template("  File \"x.py\", line 3, weird thing"), "weird thing");
        assert_eq!(template("SomeError: my_var broke"), "SomeError: ‹id› broke");
    }

    #[test]
    fn names_are_stable_and_category_survives_in_the_name() {
        let (a, cat) = pattern_name("go", "x.go:1:1: unexpected gizmo near 'q'");
        let (b, _) = pattern_name("go", "y.go:2:2: unexpected gizmo near 'r'");
        assert_eq!(a, b);
        assert_eq!(cat, Category::Syntax);
        assert_eq!(category_in_name(&a), Some(Category::Syntax));
        // Pinned so that a change of masking, which would split every stored group, is noticed.
        assert_eq!(a, "go_msg_unexpected_gizmo_near_2f38a283");
    }
}
