//! The classifier: (language, diagnostic text) → an error pattern name and its category.
//!
//! Each language has one table ([`go`], [`python`], [`javascript`], [`typescript`]) whose rows read like
//! documentation: a name, a category shared across languages, a regex, why code with that error
//! fails, and how to fix it. A diagnostic that no row matches is never dropped: it gets a name made
//! from its masked message template (see [`template`]), stable across runs and processes.

mod go;
mod javascript;
mod python;
pub mod template;
mod typescript;

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// What kind of mistake a pattern is, named the same in every language so that a lesson learned
/// in one language can be offered to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Import,
    UndefinedSymbol,
    Type,
    Syntax,
    Indentation,
    Unused,
    Redeclared,
    Other,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Import => "import",
            Category::UndefinedSymbol => "undefined_symbol",
            Category::Type => "type",
            Category::Syntax => "syntax",
            Category::Indentation => "indentation",
            Category::Unused => "unused",
            Category::Redeclared => "redeclared",
            Category::Other => "other",
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of a language's table.
#[derive(Debug)]
pub struct Rule {
    pub name: &'static str,
    pub category: Category,
    /// Matched anywhere in the diagnostic (case-sensitive: toolchains spell their messages one way).
    pub pattern: &'static str,
    pub why_fails: &'static str,
    pub how_to_fix: &'static str,
}

/// The result of classifying one diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub pattern: String,
    pub category: Category,
    /// True when a table row matched; false for a name made from the message template.
    pub known: bool,
}

struct Table {
    prefix: &'static str,
    rules: &'static [Rule],
    compiled: Vec<Regex>,
}

impl Table {
    fn new(prefix: &'static str, rules: &'static [Rule]) -> Self {
        let compiled = rules.iter().map(|r| Regex::new(r.pattern).expect("classifier patterns are valid")).collect();
        Table { prefix, rules, compiled }
    }
}

static GO: LazyLock<Table> = LazyLock::new(|| Table::new("go", go::RULES));
static PYTHON: LazyLock<Table> = LazyLock::new(|| Table::new("python", python::RULES));
static JAVASCRIPT: LazyLock<Table> = LazyLock::new(|| Table::new("js", javascript::RULES));
static TYPESCRIPT: LazyLock<Table> = LazyLock::new(|| Table::new("ts", typescript::RULES));

/// The canonical name for a language or one of its common aliases (`golang`, `py`, `js`, `node`).
pub fn canonical_language(language: &str) -> String {
    let lower = language.trim().to_ascii_lowercase();
    match lower.as_str() {
        "golang" => "go".into(),
        "py" | "python3" => "python".into(),
        "js" | "node" | "nodejs" | "ecmascript" => "javascript".into(),
        "ts" | "tsx" | "tsc" => "typescript".into(),
        _ => lower,
    }
}

fn table(language: &str) -> Option<&'static Table> {
    match canonical_language(language).as_str() {
        "go" => Some(&GO),
        "python" => Some(&PYTHON),
        "javascript" => Some(&JAVASCRIPT),
        "typescript" => Some(&TYPESCRIPT),
        _ => None,
    }
}

/// The prefix of pattern names in `language` (`go`, `python`, `js`, or the language itself).
pub fn pattern_prefix(language: &str) -> String {
    table(language).map(|t| t.prefix.to_string()).unwrap_or_else(|| canonical_language(language))
}

/// The rows of a language's table (empty for languages without one).
pub fn rules(language: &str) -> &'static [Rule] {
    table(language).map(|t| t.rules).unwrap_or(&[])
}

/// The table row named `pattern`, in any language.
pub fn rule(pattern: &str) -> Option<&'static Rule> {
    [&*GO, &*PYTHON, &*JAVASCRIPT, &*TYPESCRIPT].into_iter().flat_map(|t| t.rules).find(|r| r.name == pattern)
}

/// The category of any pattern name: the table's for known names; for template names, the one
/// recorded in the name by [`classify`].
pub fn category_of(pattern: &str) -> Category {
    if let Some(r) = rule(pattern) {
        return r.category;
    }
    template::category_in_name(pattern).unwrap_or(Category::Other)
}

/// Classifies one diagnostic message.
pub fn classify(language: &str, diagnostic: &str) -> Classification {
    if let Some(t) = table(language) {
        if let Some(i) = t.compiled.iter().position(|re| re.is_match(diagnostic)) {
            let r = &t.rules[i];
            return Classification { pattern: r.name.to_string(), category: r.category, known: true };
        }
    }
    let prefix = pattern_prefix(language);
    let (pattern, category) = template::pattern_name(&prefix, diagnostic);
    Classification { pattern, category, known: false }
}

/// Classifies a whole validation output: the most important diagnostic's pattern, or `None` when
/// the output holds no diagnostic. Known patterns win over template names, and earlier lines over
/// later ones, because toolchains report the root cause first.
pub fn classify_output(language: &str, output: &str) -> Option<Classification> {
    let all: Vec<Classification> = split_diagnostics(language, output).iter().map(|d| classify(language, d)).collect();
    all.iter().find(|c| c.known).or(all.first()).cloned()
}

/// Splits a toolchain's output into diagnostics, dropping what only gives context: source echoes
/// and carets, stack frames, tracebacks' `File` lines, package headers, node's version footer.
/// Indented lines that continue a Go diagnostic (`have (...)`, `want (...)`) stay with it. If
/// nothing looks like a diagnostic, the whole non-empty text is one, so no output is ever lost.
pub fn split_diagnostics(language: &str, output: &str) -> Vec<String> {
    static ERROR_LINE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:Sorry: )?(?:[A-Za-z_][\w.]*)?(?:Error|Exception|Warning)\b(?:\s*\[[A-Z_]+\])?:?").unwrap()
    });
    static LOCATED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[^\s:]+:\d+(?::\d+)?:? \S").unwrap());
    let lang = canonical_language(language);
    let mut out: Vec<String> = Vec::new();
    for line in output.lines() {
        let trimmed = line.trim_end();
        if trimmed.trim().is_empty() {
            continue;
        }
        let indented = trimmed.starts_with([' ', '\t']);
        match lang.as_str() {
            "go" => {
                if trimmed.starts_with('#')
                    || trimmed.starts_with("go: finding")
                    || trimmed.starts_with("go: downloading")
                    || trimmed.contains("too many errors")
                {
                    continue;
                }
                if indented {
                    if let Some(last) = out.last_mut() {
                        last.push('\n');
                        last.push_str(trimmed.trim());
                    }
                    continue;
                }
                out.push(trimmed.to_string());
            }
            "python" | "javascript" => {
                if !indented && (ERROR_LINE.is_match(trimmed) || LOCATED.is_match(trimmed)) {
                    out.push(trimmed.to_string());
                }
            }
            _ => {
                if !indented {
                    out.push(trimmed.to_string());
                }
            }
        }
    }
    if out.is_empty() && !output.trim().is_empty() {
        out.push(output.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_pattern_name_exists() {
        for name in [
            "go_import_error",
            "go_undefined_tel",
            "go_type_error",
            "go_syntax_error",
            "python_undefined_variable",
            "python_syntax_error",
            "python_indentation_error",
            "python_import_error",
            "js_undefined_variable",
            "js_syntax_error",
            "js_import_error",
        ] {
            assert!(rule(name).is_some(), "{name} missing");
        }
    }

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for lang in ["go", "python", "javascript", "typescript"] {
            for r in rules(lang) {
                assert!(seen.insert(r.name), "duplicate {}", r.name);
                assert!(r.name.starts_with(&format!("{}_", pattern_prefix(lang))), "{}", r.name);
                assert!(!r.why_fails.is_empty() && !r.how_to_fix.is_empty());
            }
        }
    }

    #[test]
    fn seed_messages_classify_as_the_seed_says() {
        assert_eq!(classify("go", "package telemetry_utils is not in std").pattern, "go_import_error");
        assert_eq!(classify("go", "./main.go:5:2: undefined: Tel").pattern, "go_undefined_tel");
        assert_eq!(classify("go", "./main.go:5:2: undefined: tel").pattern, "go_undefined");
        assert_eq!(classify("python", "NameError: name 'tel' is not defined").pattern, "python_undefined_variable");
        assert_eq!(classify("js", "ReferenceError: Tel is not defined").pattern, "js_undefined_variable");
        assert_eq!(classify("javascript", "SyntaxError: Unexpected token '}'").pattern, "js_syntax_error");
        assert_eq!(classify("javascript", "Error: Cannot find module './tel'").pattern, "js_import_error");
    }

    #[test]
    fn unknown_messages_get_a_stable_template_name() {
        let a = classify("go", "./a.go:3:1: frobnicated widget \"x\" 42 times");
        let b = classify("go", "./b/c.go:9:7: frobnicated widget \"yz\" 7 times");
        assert!(!a.known);
        assert_eq!(a.pattern, b.pattern);
        assert!(a.pattern.starts_with("go_msg_frobnicated_widget"), "{}", a.pattern);
        let c = classify("go", "./a.go:3:1: frobnicated gadget \"x\" 42 times");
        assert_ne!(a.pattern, c.pattern);
    }

    #[test]
    fn split_keeps_the_error_and_drops_context() {
        let py = "  File \"main.py\", line 3\n    print((1)\n         ^\nSyntaxError: '(' was never closed\n";
        assert_eq!(split_diagnostics("python", py), vec!["SyntaxError: '(' was never closed"]);
        let go = "# example.com/case\n./main.go:9:9: not enough arguments in call to f\n\thave ()\n\twant (int)\n";
        assert_eq!(
            split_diagnostics("go", go),
            vec!["./main.go:9:9: not enough arguments in call to f\nhave ()\nwant (int)"]
        );
        assert_eq!(split_diagnostics("python", "something odd\n"), vec!["something odd"]);
    }
}
