//! What every language module would otherwise write again: which files are tests or generated,
//! where runtime files go, literal quoting, the feature values constructs carry, and slots for a
//! model's snippets between the insertion markers. A language module keeps only what its grammar
//! decides: where constructs are and which forms fit them.

use crate::construct::Slot;
use crate::language::{RuntimeFile, SourceFile};
use crate::rewrite::{CLOSE, OPEN};

/// Folders of other people's code (vendored dependencies, installed packages, caches): never
/// entered by discovery, the validators that walk a tree, or `strip`.
pub const SKIPPED_DIRS: &[&str] =
    &["vendor", "node_modules", "__pycache__", "site-packages", "bower_components", "jspm_packages"];

/// Folders whose files are tests, fixtures, mocks or test data, in every language: left alone
/// unless `--include-tests`.
pub const TEST_DIRS: &[&str] = &["tests", "test", "testing", "__tests__", "__mocks__", "testdata"];

/// Whether `rel` (relative to the instrumented root, `/` separators) lies under a test folder.
pub fn in_test_dir(rel: &str) -> bool {
    let mut parts: Vec<&str> = rel.split('/').collect();
    parts.pop();
    parts.iter().any(|d| TEST_DIRS.contains(d))
}

/// How a language names its test files (the file name alone, without folders).
#[derive(Debug, Clone, Copy, Default)]
pub struct TestNames {
    pub prefixes: &'static [&'static str],
    pub suffixes: &'static [&'static str],
    pub infixes: &'static [&'static str],
    pub exact: &'static [&'static str],
}

impl TestNames {
    /// Whether the file `rel` is named as a test.
    pub fn matches(&self, rel: &str) -> bool {
        let name = file_name(rel);
        self.prefixes.iter().any(|p| name.starts_with(p))
            || self.suffixes.iter().any(|s| name.ends_with(s))
            || self.infixes.iter().any(|i| name.contains(i))
            || self.exact.contains(&name)
    }
}

/// The last component of `rel`.
pub fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// The folder of `rel` (`""` at the root).
pub fn folder(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(d, _)| d)
}

/// `name` inside `dir` (relative paths, `/` separators).
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Whether a generator's mark is in `header` (the lines before a file's code): a comment line
/// (starting with one of `comment` after indentation) saying `DO NOT EDIT` or `@generated`, the
/// conventions of Go (`// Code generated … DO NOT EDIT.`), protobuf, Bazel, Babel and most
/// code generators.
pub fn generated_mark(header: &str, comment: &[&str]) -> bool {
    header
        .lines()
        .map(str::trim_start)
        .any(|l| comment.iter().any(|c| l.starts_with(c)) && (l.contains("DO NOT EDIT") || l.contains("@generated")))
}

/// The first `n` lines of `text`.
pub fn first_lines(text: &str, n: usize) -> &str {
    let end = text.match_indices('\n').nth(n.saturating_sub(1)).map_or(text.len(), |(i, _)| i);
    &text[..end]
}

/// One runtime file named `name` in each folder holding an instrumented file; `text` gives its
/// content for the folder's first instrumented file (`None` skips the folder).
pub fn runtime_per_folder(
    instrumented: &[&SourceFile],
    name: &str,
    mut text: impl FnMut(&SourceFile) -> Option<String>,
) -> Vec<RuntimeFile> {
    let mut out: Vec<RuntimeFile> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for f in instrumented {
        let dir = folder(&f.rel);
        if seen.contains(dir) {
            continue;
        }
        if let Some(t) = text(f) {
            seen.insert(dir.to_string());
            out.push(RuntimeFile { rel: join(dir, name), text: t });
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out
}

/// The runtime file `name` once, at the instrumented root, when anything was instrumented.
pub fn runtime_at_root(instrumented: &[&SourceFile], name: &str, text: &str) -> Vec<RuntimeFile> {
    if instrumented.is_empty() {
        return Vec::new();
    }
    vec![RuntimeFile { rel: name.to_string(), text: text.to_string() }]
}

/// Whether `rel` is named like one of a language's runtime files (in any folder).
pub fn is_named(rel: &str, names: &[&str]) -> bool {
    names.contains(&file_name(rel))
}

/// A Rust string as a Go/JavaScript/Python double-quoted string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// [`quote`] for text that sits inside a `/* … */` marker comment's neighbourhood: `*/` cannot
/// appear in it, so a name can never close the marker.
pub fn quote_in_block_comment_language(s: &str) -> String {
    let q = quote(s);
    if q.contains("*/") {
        q.replace("*/", "*\\/")
    } else {
        q
    }
}

/// A feature value: `yes` or `no`.
pub fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// `s` without whitespace (feature values built from source text).
pub fn compact(s: &str) -> String {
    s.split_whitespace().collect()
}

/// Byte offset → 1-based line.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// A slot for one statement between the insertion markers: `OPEN` + `lead` + the snippet +
/// `trail` + `CLOSE`, at `offset`.
pub fn marked_slot(offset: usize, lead: &str, trail: &str, hint: impl Into<String>) -> Slot {
    Slot { offset, before: format!("{OPEN}{lead}"), after: format!("{trail}{CLOSE}"), hint: hint.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_marks_are_comments_of_the_language() {
        assert!(generated_mark("// Code generated by protoc-gen-go. DO NOT EDIT.\n", &["//"]));
        assert!(generated_mark("# @generated by tool\n", &["#"]));
        assert!(generated_mark("/**\n * @generated\n */", &["/*", "*", "//"]));
        assert!(!generated_mark("const s = 'DO NOT EDIT';\n", &["/*", "*", "//"]));
        assert!(!generated_mark("x = 1  # DO NOT EDIT\n", &["#"]));
    }

    #[test]
    fn test_names_and_folders() {
        let py = TestNames { prefixes: &["test_"], suffixes: &["_test.py"], infixes: &[], exact: &["conftest.py"] };
        assert!(py.matches("pkg/test_x.py") && py.matches("conftest.py") && !py.matches("pkg/latest_x.py"));
        assert!(in_test_dir("a/__mocks__/m.js") && in_test_dir("testdata/x.go") && !in_test_dir("tests.py"));
    }

    #[test]
    fn runtime_files_go_once_per_folder() {
        let f = |rel: &str| SourceFile { rel: rel.into(), text: String::new(), path: None };
        let (a, b, c) = (f("a/x.py"), f("a/y.py"), f("z.py"));
        let files = runtime_per_folder(&[&a, &b, &c], "rt.py", |_| Some("rt".into()));
        let rels: Vec<&str> = files.iter().map(|r| r.rel.as_str()).collect();
        assert_eq!(rels, ["a/rt.py", "rt.py"]);
        assert!(is_named("a/rt.py", &["rt.py"]) && !is_named("a/rt.pyc", &["rt.py"]));
        assert_eq!(first_lines("1\n2\n3\n", 2), "1\n2");
    }
}
