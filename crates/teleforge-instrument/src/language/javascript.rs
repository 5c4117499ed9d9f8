//! JavaScript: not built yet — discovery finds nothing, so JavaScript files are left alone.

use tree_sitter::Tree;

use super::{LanguageSupport, RuntimeFile, SourceFile};
use crate::construct::Construct;

/// JavaScript.
pub struct JavaScript;

impl LanguageSupport for JavaScript {
    fn name(&self) -> &'static str {
        "javascript"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["js", "mjs", "cjs"]
    }

    fn grammar(&self) -> tree_sitter::Language {
        tree_sitter_javascript::LANGUAGE.into()
    }

    fn is_test_file(&self, rel: &str) -> bool {
        rel.contains(".test.") || rel.contains(".spec.") || rel.starts_with("test/") || rel.contains("/test/")
    }

    fn skip_file(&self, _text: &str) -> Option<&'static str> {
        None
    }

    fn discover(&self, _file: &SourceFile, _tree: &Tree) -> Vec<Construct> {
        Vec::new()
    }

    fn runtime_files(&self, _instrumented: &[&SourceFile]) -> Vec<RuntimeFile> {
        Vec::new()
    }

    fn is_runtime_file(&self, rel: &str) -> bool {
        rel.rsplit('/').next() == Some("_teleforge_tel.cjs")
    }
}
