//! What discovery finds and what a generator may insert: a [`Construct`] (a function, loop or
//! assignment at a known place) and its [`Form`]s (candidate snippets as insertions at offsets the
//! language module chose). Generators pick a form or fill in snippet text; they never choose
//! positions, so they can never move or delete user code.

use std::collections::BTreeMap;

use serde::Serialize;

/// The seed's construct types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstructKind {
    Function,
    Loop,
    Variable,
}

impl ConstructKind {
    /// The seed's `construct_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ConstructKind::Function => "function",
            ConstructKind::Loop => "loop",
            ConstructKind::Variable => "variable",
        }
    }
}

/// One text insertion at a byte offset of the original file. Insertions never contain a newline
/// unless the language module says the form adds lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub offset: usize,
    pub text: String,
}

/// One candidate way to instrument a construct: the ladder's rungs are tried in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// Stable id recorded in learnings (`go.func.full`), so later runs can skip forms that failed
    /// in the same context.
    pub id: &'static str,
    /// What this form records, for `fix_applied` ("go.func.args_only replaced go.func.full: ...").
    pub summary: &'static str,
    pub edits: Vec<Edit>,
}

impl Form {
    /// The inserted text of every edit, as the learning's `generated_code`.
    pub fn code(&self) -> String {
        self.edits.iter().map(|e| e.text.as_str()).collect::<Vec<_>>().join("\n")
    }
}

/// Where a generator that writes its own snippet (an LLM) puts it: `before + snippet + after` at
/// `offset`. The language module owns the position and the wrapping (markers, separators); the
/// generator only supplies the one-line snippet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub offset: usize,
    pub before: String,
    pub after: String,
    /// What the snippet must be, for the prompt ("one statement, run first in the function body").
    pub hint: String,
}

impl Slot {
    /// The edit that puts `snippet` in this slot.
    pub fn edit(&self, snippet: &str) -> Edit {
        Edit { offset: self.offset, text: format!("{}{snippet}{}", self.before, self.after) }
    }
}

/// A place to instrument.
#[derive(Debug, Clone)]
pub struct Construct {
    pub kind: ConstructKind,
    /// Qualified name of the function (for loops and assignments: of the enclosing function).
    pub function: String,
    /// 1-based line of the construct in the original file.
    pub line: usize,
    /// Byte range of the construct in the original file (diagnostics inside it are its own).
    pub start: usize,
    pub end: usize,
    /// Facts about the context that decide which forms work (`results=named`, `receiver=pointer`):
    /// recorded with every learning and used to skip forms known to fail in the same context.
    pub features: BTreeMap<String, String>,
    /// The template ladder, safest first.
    pub forms: Vec<Form>,
}

impl Construct {
    /// The features as one stable string, e.g. `kind=function;results=named`.
    pub fn signature(&self) -> String {
        let mut s = format!("kind={}", self.kind.as_str());
        for (k, v) in &self.features {
            s.push_str(&format!(";{k}={v}"));
        }
        s
    }
}
