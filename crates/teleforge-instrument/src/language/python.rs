//! Python: functions and methods (sync, async, generators), `for`/`while` loops, and assignments
//! inside functions.
//!
//! Python has no block comments and no `#line`, so forms are chosen to keep line numbers where
//! the file allows it:
//! - functions get the runtime's decorator (which handles results, exceptions, generators and
//!   coroutines) on the **empty line above** them when there is one (PEP 8 puts one or two there),
//!   else their entry is recorded by a statement placed **before the first body statement on the
//!   same line** (`_teleforge.func_call(...); x = 1`), else the decorator goes on a new line (the
//!   only form that shifts lines, tried last);
//! - loops get `_teleforge.loop_iter(...); ` before their first body statement on its line;
//! - assignments get `; _teleforge.var_assign(...)` after the statement on its line;
//! - the runtime import goes after the docstring and `from __future__` imports, on their line;
//!   else before a simple first statement on its line; else on a line of its own above the first
//!   statement and the empty lines right above it (so a decorator filling the empty line above a
//!   first `def` stays next to it: at that one offset the pipeline puts the import first). A
//!   loop's own line goes above empty lines in the same way. Nothing goes before a byte order
//!   mark, a shebang, a coding line or a comment header (docs/TELEMETRY.md, "Where insertions go
//!   when they meet").
//!
//! Left alone: `@overload` signatures, and abstract or `Protocol` methods whose body is `...` (or
//! only a docstring): their bodies never run or do nothing.
//!
//! Every inserted piece contains the identifier `_teleforge`; lines teleforge adds end with
//! `# teleforge+` and a filled-in empty line ends with `# teleforge`, so `strip` removes exactly
//! what was added.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use tree_sitter::{Node, Tree};

use super::shared::{self, compact, quote as lit, yes, TestNames};
use super::{LanguageSupport, RuntimeFile, SourceFile};
use crate::construct::{Construct, ConstructKind, Edit, Form};

const RUNTIME: &str = include_str!("../../runtime/python/_teleforge_tel.py");
/// The runtime module's file name, written into every folder with instrumented files.
pub const RUNTIME_FILE: &str = "_teleforge_tel.py";

/// What the entry, loop and assignment statements start with: once telemetry is configured off,
/// the runtime sets `on` to false and a site costs this attribute load, not a call (nor the
/// argument dict an entry builds). Files instrumented before it strip the same.
const GUARD: &str = "_teleforge.on and ";

/// The import every instrumented file gets: the runtime beside the file, relative inside a
/// package (the builtin `__import__` with level 1, so no module of the standard library is
/// imported for it: an instrumented `importlib` imports itself fine), absolute for scripts and
/// top-level modules.
pub const IMPORT: &str = "_teleforge = __import__(\"_teleforge_tel\", {\"__package__\": __package__}, None, (\"tel\",), 1).tel if __package__ else __import__(\"_teleforge_tel\").tel";

/// The imports earlier versions wrote: still recognised (not instrumented again) and stripped.
const EARLIER_IMPORTS: &[&str] = &[
    "_teleforge = __import__(\"importlib\").import_module(\"._teleforge_tel\", __package__).tel if __package__ else __import__(\"_teleforge_tel\").tel",
];
const ADDED_LINE: &str = "  # teleforge+";
/// The sentinel that closes a model's snippet (after an assignment, and before a statement).
const SNIPPET_END: &str = ", \"tf}\")";
const SNIPPET_END_PREFIX: &str = ", \"tf}\"); ";
const FILLED_LINE: &str = "  # teleforge";

/// Python.
pub struct Python;

impl LanguageSupport for Python {
    fn name(&self) -> &'static str {
        "python"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["py"]
    }

    fn grammar(&self) -> tree_sitter::Language {
        tree_sitter_python::LANGUAGE.into()
    }

    fn test_names(&self) -> TestNames {
        TestNames {
            prefixes: &["test_"],
            suffixes: &["_test.py"],
            exact: &["conftest.py", "tests.py"],
            ..TestNames::default()
        }
    }

    fn skip_file(&self, text: &str) -> Option<&'static str> {
        shared::generated_mark(shared::first_lines(text, 5), &["#"]).then_some("generated")
    }

    fn discover(&self, file: &SourceFile, tree: &Tree) -> Vec<Construct> {
        let module = module_name(&file.rel);
        let eol = if file.text.contains("\r\n") { "\r\n" } else { "\n" };
        let mut w = Walker { src: &file.text, rel: &file.rel, eol, in_protocol: false, out: Vec::new() };
        w.walk_block(tree.root_node(), &module, Scope::Module);
        w.out
    }

    fn file_edits(&self, file: &SourceFile, tree: &Tree) -> Vec<Edit> {
        import_edit(&file.text, tree).into_iter().collect()
    }

    fn runtime_files(&self, instrumented: &[&SourceFile]) -> Vec<RuntimeFile> {
        shared::runtime_per_folder(instrumented, RUNTIME_FILE, |_| Some(RUNTIME.to_string()))
    }

    fn is_runtime_file(&self, rel: &str) -> bool {
        shared::is_named(rel, &[RUNTIME_FILE])
    }

    fn is_instrumented(&self, text: &str) -> bool {
        std::iter::once(IMPORT).chain(EARLIER_IMPORTS.iter().copied()).any(|i| text.contains(i))
    }

    /// A model's snippet is one Python expression, passed to `_teleforge.snippet(…, "tf}")`: it runs
    /// where the entry-only forms run (before the first simple statement of a function or loop
    /// body, on its line) or after an assignment, and the sentinel keeps it recognisable for
    /// `strip` in a language without block comments.
    fn slot(&self, c: &Construct) -> Option<crate::construct::Slot> {
        let (form, before, after, hint) = match c.kind {
            ConstructKind::Function => (
                "py.func.entry",
                "_teleforge.snippet(",
                SNIPPET_END_PREFIX,
                "one Python expression (not a statement), evaluated first in the function body",
            ),
            ConstructKind::Loop => (
                "py.loop.prefix",
                "_teleforge.snippet(",
                SNIPPET_END_PREFIX,
                "one Python expression (not a statement), evaluated at the start of every iteration",
            ),
            ConstructKind::Variable => (
                "py.var.value",
                "; _teleforge.snippet(",
                SNIPPET_END,
                "one Python expression (not a statement), evaluated right after the assignment",
            ),
        };
        let offset = c.forms.iter().find(|f| f.id == form)?.edits.first()?.offset;
        Some(crate::construct::Slot { offset, before: before.into(), after: after.into(), hint: hint.into() })
    }

    fn strip(&self, text: &str) -> String {
        strip(text)
    }
}

/// `pkg/sub/mod.py` → `pkg.sub.mod`; `pkg/__init__.py` → `pkg`.
fn module_name(rel: &str) -> String {
    let m = rel.trim_end_matches(".py").replace('/', ".");
    m.strip_suffix(".__init__").map(str::to_string).unwrap_or(m)
}

#[derive(Clone, Copy, PartialEq)]
enum Scope {
    Module,
    Class,
    Function,
}

struct Walker<'a> {
    src: &'a str,
    rel: &'a str,
    /// The file's line ending, decided once.
    eol: &'static str,
    /// Whether the class whose body is walked is a `typing.Protocol`.
    in_protocol: bool,
    out: Vec<Construct>,
}

impl<'a> Walker<'a> {
    fn text(&self, n: Node<'_>) -> &'a str {
        &self.src[n.byte_range()]
    }

    /// Walks the statements of a module, class or function body.
    fn walk_block(&mut self, block: Node<'_>, qual: &str, scope: Scope) {
        let mut c = block.walk();
        let children: Vec<Node<'_>> = block.named_children(&mut c).collect();
        for stmt in children {
            self.statement(stmt, qual, scope);
        }
    }

    fn statement(&mut self, stmt: Node<'_>, qual: &str, scope: Scope) {
        match stmt.kind() {
            "decorated_definition" => {
                if let Some(def) = stmt.child_by_field_name("definition") {
                    self.definition(def, Some(stmt), qual, scope);
                }
            }
            "function_definition" | "class_definition" => self.definition(stmt, None, qual, scope),
            "for_statement" | "while_statement" => {
                if scope == Scope::Function {
                    self.loop_(stmt, qual);
                }
                self.nested(stmt, qual, scope);
            }
            "expression_statement" => {
                if scope == Scope::Function {
                    self.assignment(stmt, qual);
                }
            }
            _ => self.nested(stmt, qual, scope),
        }
    }

    /// Blocks inside compound statements (if/for/while/try/with/match bodies).
    fn nested(&mut self, stmt: Node<'_>, qual: &str, scope: Scope) {
        let mut c = stmt.walk();
        let kids: Vec<Node<'_>> = stmt.named_children(&mut c).collect();
        for k in kids {
            match k.kind() {
                "block" => self.walk_block(k, qual, scope),
                "else_clause"
                | "elif_clause"
                | "except_clause"
                | "finally_clause"
                | "case_clause"
                | "except_group_clause" => self.nested(k, qual, scope),
                _ => {}
            }
        }
    }

    fn definition(&mut self, def: Node<'_>, decorated: Option<Node<'_>>, qual: &str, scope: Scope) {
        let name = def.child_by_field_name("name").map(|n| self.text(n)).unwrap_or("?");
        let Some(body) = def.child_by_field_name("body") else { return };
        if def.kind() == "class_definition" {
            let inner = format!("{qual}.{name}");
            let protocol = self.is_protocol(def);
            let outer = std::mem::replace(&mut self.in_protocol, protocol);
            self.walk_block(body, &inner, Scope::Class);
            self.in_protocol = outer;
            return;
        }
        if self.is_stub(decorated, body, scope) {
            return;
        }
        let full = if scope == Scope::Function { format!("{qual}.<locals>.{name}") } else { format!("{qual}.{name}") };
        self.function(def, decorated, body, &full, scope);
        self.walk_block(body, &full, Scope::Function);
    }

    /// Functions whose body never runs or does nothing: `@overload` signatures, and abstract or
    /// protocol methods whose body is `...` (a docstring allowed).
    fn is_stub(&self, decorated: Option<Node<'_>>, body: Node<'_>, scope: Scope) -> bool {
        let decorators: Vec<String> = decorated
            .map(|d| {
                let mut c = d.walk();
                let names: Vec<String> = d
                    .named_children(&mut c)
                    .filter(|n| n.kind() == "decorator")
                    .map(|n| compact(self.text(n).trim_start_matches('@')))
                    .collect();
                names
            })
            .unwrap_or_default();
        let last_name = |d: &str| d.rsplit('.').next().unwrap_or(d).to_string();
        if decorators.iter().any(|d| last_name(d) == "overload") {
            return true;
        }
        let abstract_ = decorators.iter().any(|d| last_name(d).starts_with("abstract"));
        (abstract_ || (scope == Scope::Class && self.in_protocol)) && is_stub_body(body)
    }

    /// A class with `Protocol` (`typing.Protocol`, `Protocol[T]`) among its bases.
    fn is_protocol(&self, class: Node<'_>) -> bool {
        let Some(bases) = class.child_by_field_name("superclasses") else { return false };
        let mut c = bases.walk();
        let found = bases.named_children(&mut c).any(|b| {
            let t = compact(self.text(b));
            let t = t.split('[').next().unwrap_or("");
            t == "Protocol" || t.ends_with(".Protocol")
        });
        found
    }

    fn function(&mut self, def: Node<'_>, decorated: Option<Node<'_>>, body: Node<'_>, name: &str, scope: Scope) {
        let top = decorated.unwrap_or(def);
        let line = def.start_position().row + 1;
        let top_line_start = line_start(self.src, top.start_byte());
        let indent = &self.src[top_line_start..top.start_byte()];
        if !indent.chars().all(|c| c == ' ' || c == '\t') {
            return; // `x = 1; def f(): ...` shares its line: leave it alone
        }
        let is_async = self.text(def).starts_with("async");
        let is_generator = contains_yield(body);
        let site = format!("{}, {}, {line}", lit(name), lit(self.rel));
        let decorator = format!("@_teleforge.instrument({site})");
        let mut features = BTreeMap::new();
        features.insert("async".to_string(), yes(is_async));
        features.insert("generator".into(), yes(is_generator));
        features.insert("method".into(), yes(scope == Scope::Class));
        features.insert("decorated".into(), yes(decorated.is_some()));

        // The runtime's decorator must see the plain function: above `staticmethod` and
        // `classmethod` it unwraps them itself, but any other decorator (lru_cache, property,
        // a registry) must be applied to its result, so it then goes directly above `def`.
        let outermost_ok = decorated.is_none_or(|d| {
            let mut c = d.walk();
            let decorators: Vec<&str> =
                d.named_children(&mut c).filter(|n| n.kind() == "decorator").map(|n| self.text(n).trim()).collect();
            decorators.iter().all(|t| *t == "@staticmethod" || *t == "@classmethod")
        });
        features.insert("foreign_decorators".into(), yes(!outermost_ok));
        let (anchor_start, anchor_indent) = if outermost_ok {
            (top_line_start, indent)
        } else {
            let s = line_start(self.src, def.start_byte());
            (s, &self.src[s..def.start_byte()])
        };
        if !anchor_indent.chars().all(|c| c == ' ' || c == '\t') {
            return;
        }
        let mut forms = Vec::new();
        // 1. The decorator on the empty line above.
        let blank_above = if outermost_ok { blank_line_above(self.src, anchor_start) } else { None };
        features.insert("blank_line_above".into(), yes(blank_above.is_some()));
        if let Some(at) = blank_above {
            // At the start of the empty line (before a CR of a CRLF file).
            forms.push(Form {
                id: "py.func.decorator",
                summary: "decorator on the empty line above: entry, exit, results, errors",
                edits: vec![Edit { offset: at, text: format!("{anchor_indent}{decorator}{FILLED_LINE}") }],
            });
        }
        // 2. Entry only, before the first body statement on its line.
        let params = self.params(def);
        if let Some(at) = self.first_statement_slot(body) {
            let args: Vec<String> = params.iter().map(|p| format!("{}: {p}", lit(p))).collect();
            forms.push(Form {
                id: "py.func.entry",
                summary: "entry with arguments, on the first body line",
                edits: vec![Edit {
                    offset: at,
                    text: format!("{GUARD}_teleforge.func_call({site}, {{{}}}); ", args.join(", ")),
                }],
            });
        }
        // 3. The decorator on a new line (shifts the lines below by one).
        let eol = self.eol;
        forms.push(Form {
            id: "py.func.decorator_line",
            summary: "decorator on a new line: entry, exit, results, errors",
            edits: vec![Edit { offset: anchor_start, text: format!("{anchor_indent}{decorator}{ADDED_LINE}{eol}") }],
        });
        self.out.push(Construct {
            kind: ConstructKind::Function,
            function: name.to_string(),
            line,
            start: top.start_byte(),
            end: def.end_byte(),
            features,
            forms,
        });
    }

    /// Parameter names the entry form can pass (not `self`-less guesses: every named one).
    fn params(&self, def: Node<'_>) -> Vec<String> {
        let Some(params) = def.child_by_field_name("parameters") else { return Vec::new() };
        let mut out = Vec::new();
        let mut c = params.walk();
        for p in params.named_children(&mut c) {
            let name = match p.kind() {
                "identifier" => Some(p),
                "typed_parameter" | "list_splat_pattern" | "dictionary_splat_pattern" => {
                    let mut c2 = p.walk();
                    let found = p.named_children(&mut c2).find(|n| n.kind() == "identifier");
                    found
                }
                "default_parameter" | "typed_default_parameter" => p.child_by_field_name("name"),
                _ => None,
            };
            if let Some(n) = name {
                out.push(self.text(n).to_string());
            }
        }
        out
    }

    /// Where a statement can be put on the line of the block's first statement: before it when it
    /// is a simple statement (after a docstring, before the statement that follows it).
    fn first_statement_slot(&self, body: Node<'_>) -> Option<usize> {
        let mut c = body.walk();
        let stmts: Vec<Node<'_>> = body.named_children(&mut c).filter(|n| n.kind() != "comment").collect();
        let mut first = *stmts.first()?;
        if is_docstring(first) {
            first = *stmts.get(1)?;
        }
        is_simple(first).then_some(first.start_byte())
    }

    fn loop_(&mut self, stmt: Node<'_>, qual: &str) {
        let Some(body) = stmt.child_by_field_name("body") else { return };
        let line = stmt.start_position().row + 1;
        let call = format!("{GUARD}_teleforge.loop_iter({}, {}, {line})", lit(qual), lit(self.rel));
        let mut c = body.walk();
        let Some(first) = body.named_children(&mut c).find(|n| n.kind() != "comment") else { return };
        let mut forms = Vec::new();
        if is_simple(first) {
            forms.push(Form {
                id: "py.loop.prefix",
                summary: "iteration count before the first body statement",
                edits: vec![Edit { offset: first.start_byte(), text: format!("{call}; ") }],
            });
        }
        let first_line_start = line_start(self.src, first.start_byte());
        let indent = &self.src[first_line_start..first.start_byte()];
        if indent.chars().all(|c| c == ' ' || c == '\t') && first.start_position().row + 1 > line {
            let eol = self.eol;
            // Above the empty lines right above the statement: a function there may take the
            // empty line just above it for its decorator, which must stay next to its `def`.
            forms.push(Form {
                id: "py.loop.line",
                summary: "iteration count on a new line",
                edits: vec![Edit {
                    offset: above_blank_lines(self.src, first_line_start),
                    text: format!("{indent}{call}{ADDED_LINE}{eol}"),
                }],
            });
        }
        if forms.is_empty() {
            return;
        }
        let mut features = BTreeMap::new();
        features.insert("loop".to_string(), stmt.kind().trim_end_matches("_statement").to_string());
        features.insert("first_statement_simple".into(), yes(is_simple(first)));
        self.out.push(Construct {
            kind: ConstructKind::Loop,
            function: qual.to_string(),
            line,
            start: stmt.start_byte(),
            end: stmt.end_byte(),
            features,
            forms,
        });
    }

    fn assignment(&mut self, stmt: Node<'_>, qual: &str) {
        let Some(expr) = stmt.named_child(0) else { return };
        if !matches!(expr.kind(), "assignment" | "augmented_assignment") || expr.child_by_field_name("right").is_none()
        {
            return;
        }
        let Some(left) = expr.child_by_field_name("left") else { return };
        let mut names = Vec::new();
        match left.kind() {
            "identifier" => names.push(self.text(left).to_string()),
            "pattern_list" | "tuple_pattern" => {
                let mut c = left.walk();
                for n in left.named_children(&mut c) {
                    if n.kind() != "identifier" {
                        return;
                    }
                    names.push(self.text(n).to_string());
                }
            }
            _ => return,
        }
        names.retain(|n| n != "_");
        names.dedup();
        if names.is_empty() {
            return;
        }
        let line = stmt.start_position().row + 1;
        let calls: String = names
            .iter()
            .map(|n| {
                format!("; {GUARD}_teleforge.var_assign({}, {}, {line}, {}, {n})", lit(qual), lit(self.rel), lit(n))
            })
            .collect();
        let mut features = BTreeMap::new();
        features.insert("statement".to_string(), expr.kind().to_string());
        self.out.push(Construct {
            kind: ConstructKind::Variable,
            function: qual.to_string(),
            line,
            start: stmt.start_byte(),
            end: stmt.end_byte(),
            features,
            forms: vec![Form {
                id: "py.var.value",
                summary: "assigned value after the statement",
                edits: vec![Edit { offset: stmt.end_byte(), text: calls }],
            }],
        });
    }
}

/// A body that is only `...` (after an optional docstring), or only a docstring.
fn is_stub_body(body: Node<'_>) -> bool {
    let mut c = body.walk();
    let mut stmts: Vec<Node<'_>> = body.named_children(&mut c).filter(|n| n.kind() != "comment").collect();
    if stmts.first().is_some_and(|s| is_docstring(*s)) {
        stmts.remove(0);
    }
    match stmts.as_slice() {
        [] => true,
        [only] => {
            only.kind() == "expression_statement"
                && only.named_child_count() == 1
                && only.named_child(0).is_some_and(|e| e.kind() == "ellipsis")
        }
        _ => false,
    }
}

/// A docstring: a statement that is only a string literal, implicit concatenation included
/// (`"a" "b"` is one docstring).
fn is_docstring(n: Node<'_>) -> bool {
    n.kind() == "expression_statement"
        && n.named_child(0).is_some_and(|s| matches!(s.kind(), "string" | "concatenated_string"))
}

/// Statements that may follow `x; ` on one line.
fn is_simple(n: Node<'_>) -> bool {
    matches!(
        n.kind(),
        "expression_statement"
            | "return_statement"
            | "pass_statement"
            | "import_statement"
            | "import_from_statement"
            | "raise_statement"
            | "assert_statement"
            | "delete_statement"
            | "break_statement"
            | "continue_statement"
            | "print_statement"
            | "exec_statement"
            | "type_alias_statement"
    )
}

/// A `yield` in the function's own body (not in nested functions, lambdas or classes).
fn contains_yield(n: Node<'_>) -> bool {
    let mut c = n.walk();
    for child in n.children(&mut c) {
        match child.kind() {
            "yield" => return true,
            "function_definition" | "lambda" | "class_definition" => {}
            _ => {
                if contains_yield(child) {
                    return true;
                }
            }
        }
    }
    false
}

/// Where the runtime import goes: after the last leading `from __future__` import, else after the
/// module docstring, on their line; else before the first statement on its line when it is
/// simple; else on a new line above it.
fn import_edit(text: &str, tree: &Tree) -> Option<Edit> {
    let root = tree.root_node();
    let mut c = root.walk();
    let stmts: Vec<Node<'_>> = root.named_children(&mut c).filter(|n| n.kind() != "comment").collect();
    let mut after: Option<Node<'_>> = None;
    let mut i = 0;
    if stmts.first().is_some_and(|s| is_docstring(*s)) {
        after = Some(stmts[0]);
        i = 1;
    }
    while stmts.get(i).is_some_and(|s| s.kind() == "future_import_statement") {
        after = Some(stmts[i]);
        i += 1;
    }
    if let Some(a) = after {
        return Some(Edit { offset: a.end_byte(), text: format!("; {IMPORT}") });
    }
    let first = *stmts.first()?;
    if is_simple(first) {
        return Some(Edit { offset: first.start_byte(), text: format!("{IMPORT}; ") });
    }
    // Above the empty lines right above the statement, so a decorator that fills the empty line
    // above a first `def` stays next to it (at one offset the import comes first: see
    // docs/TELEMETRY.md, "Where insertions go when they meet").
    let at = above_blank_lines(text, line_start(text, first.start_byte()));
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    Some(Edit { offset: at, text: format!("{IMPORT}{ADDED_LINE}{eol}") })
}

/// The byte length of a leading byte order mark (Python skips it; a line teleforge adds must go
/// after it).
fn bom_len(text: &str) -> usize {
    if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    }
}

/// The start of the line holding `offset` (after a byte order mark on the first line).
fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind('\n').map_or(0, |p| p + 1).max(bom_len(text).min(offset))
}

/// When the line above the line starting at `start` is empty (`\r` allowed), the offset of its
/// end (where a decorator fills it).
fn blank_line_above(text: &str, start: usize) -> Option<usize> {
    if start <= bom_len(text) || !text[..start].ends_with('\n') {
        return None;
    }
    let prev_start = line_start(text, start - 1);
    let prev = &text[prev_start..start - 1];
    (prev.is_empty() || prev == "\r").then_some(prev_start)
}

/// The start of the run of empty lines directly above the line starting at `start` (`start`
/// itself when the line above is not empty).
fn above_blank_lines(text: &str, mut start: usize) -> usize {
    while let Some(prev) = blank_line_above(text, start) {
        start = prev;
    }
    start
}

/// Removes every insertion of this module (see the module documentation).
pub fn strip(text: &str) -> String {
    const STR: &str = r#""(?:[^"\\\n]|\\.)*""#;
    static ADDED: LazyLock<Regex> =
        // A byte order mark before an added first line stays.
        LazyLock::new(|| Regex::new(r"(?m)^(\x{feff}?)[ \t]*@?_teleforge[^\n]*  # teleforge\+\r?\n").unwrap());
    static FILLED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?m)^(\x{feff}?)[ \t]*@_teleforge\.instrument\([^\n]*\)  # teleforge(\r?)$").unwrap()
    });
    static ENTRY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&format!(
            r#"(?:_teleforge\.on and )?_teleforge\.(?:func_call|loop_iter)\({STR}, {STR}, \d+(?:, \{{(?:{STR}: [A-Za-z_][A-Za-z0-9_]*(?:, )?)*\}})?\); "#
        ))
        .unwrap()
    });
    static VAR: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&format!(
            r#"; (?:_teleforge\.on and )?_teleforge\.var_assign\({STR}, {STR}, \d+, {STR}, [A-Za-z_][A-Za-z0-9_]*\)"#
        ))
        .unwrap()
    });
    static SNIPPET_AFTER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"; _teleforge\.snippet\([^\n]*?, "tf\}"\)"#).unwrap());
    static SNIPPET_BEFORE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"_teleforge\.snippet\([^\n]*?, "tf\}"\); "#).unwrap());
    let s = SNIPPET_AFTER.replace_all(text, "");
    let s = SNIPPET_BEFORE.replace_all(&s, "");
    let s = ADDED.replace_all(&s, "$1");
    let s = FILLED.replace_all(&s, "$1$2");
    let s = ENTRY.replace_all(&s, "");
    let s = VAR.replace_all(&s, "");
    let mut s = s.into_owned();
    for import in std::iter::once(IMPORT).chain(EARLIER_IMPORTS.iter().copied()) {
        s = s.replace(&format!("; {import}"), "").replace(&format!("{import}; "), "");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::apply;

    fn instrument_all(src: &str, form: usize) -> String {
        let file = SourceFile { rel: "pkg/m.py".into(), text: src.into(), path: None };
        let mut p = tree_sitter::Parser::new();
        p.set_language(&Python.grammar()).unwrap();
        let tree = p.parse(src, None).unwrap();
        let cs = Python.discover(&file, &tree);
        let fe = Python.file_edits(&file, &tree);
        let mut edits: Vec<&Edit> = fe.iter().collect();
        for c in &cs {
            edits.extend(c.forms[form.min(c.forms.len() - 1)].edits.iter());
        }
        apply(src, &edits)
    }

    const SRC: &str = "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\nimport os\n\n\nclass A:\n    \"\"\"A.\"\"\"\n\n    @staticmethod\n    def f(a, b=1, *args, **kw):\n        \"\"\"F.\"\"\"\n        x = a + b\n        for i in range(3): x += i\n        while x > 10:\n            if x: x -= 1\n        return x\n    def g(self):\n        if self:\n            return 1\n\n\nasync def h():\n    y, z = 1, 2\n    return y\n";

    #[test]
    fn files_instrumented_before_the_guard_strip_the_same() {
        let old = "def f(a):\n    _teleforge.func_call(\"m.f\", \"m.py\", 1, {\"a\": a}); x = a; _teleforge.var_assign(\"m.f\", \"m.py\", 2, \"x\", x)\n    for i in a: _teleforge.loop_iter(\"m.f\", \"m.py\", 3); pass\n";
        assert_eq!(strip(old), "def f(a):\n    x = a\n    for i in a: pass\n");
        // The import earlier versions wrote (through `importlib`) is recognised and stripped too.
        let earlier = format!("\"\"\"Doc.\"\"\"; {}\nx = 1\n", EARLIER_IMPORTS[0]);
        assert!(Python.is_instrumented(&earlier));
        assert_eq!(strip(&earlier), "\"\"\"Doc.\"\"\"\nx = 1\n");
        assert!(!IMPORT.contains("importlib"), "the import needs no module of the standard library");
    }

    #[test]
    fn forms_keep_every_line_and_strip_restores_the_bytes() {
        for form in 0..3 {
            let out = instrument_all(SRC, form);
            assert_eq!(strip(&out), SRC, "form {form}:\n{out}");
        }
        let out = instrument_all(SRC, 0);
        // Only g (no empty line above, compound first statement) and the while loop (compound first
        // statement) need a line of their own.
        assert_eq!(out.lines().count(), SRC.lines().count() + 2, "{out}");
        assert!(out.contains("from __future__ import annotations; _teleforge = "));
        assert!(out
            .contains("\n    @_teleforge.instrument(\"pkg.m.A.f\", \"pkg/m.py\", 10)  # teleforge\n    @staticmethod"));
        assert!(out.contains(
            "for i in range(3): _teleforge.on and _teleforge.loop_iter(\"pkg.m.A.f\", \"pkg/m.py\", 13); x += i"
        ));
        assert!(out.contains(
            "y, z = 1, 2; _teleforge.on and _teleforge.var_assign(\"pkg.m.h\", \"pkg/m.py\", 23, \"y\", y); _teleforge.on and _teleforge.var_assign"
        ));
        assert!(Python.is_instrumented(&out));
    }

    #[test]
    fn model_snippets_sit_in_slots_and_strip_away() {
        let file = SourceFile { rel: "m.py".into(), text: SRC.into(), path: None };
        let mut p = tree_sitter::Parser::new();
        p.set_language(&Python.grammar()).unwrap();
        let tree = p.parse(SRC, None).unwrap();
        let cs = Python.discover(&file, &tree);
        let edits: Vec<Edit> =
            cs.iter().filter_map(|c| Python.slot(c)).map(|s| s.edit("print(\"x; y\", (1, 2))")).collect();
        assert!(edits.len() >= 5);
        let refs: Vec<&Edit> = edits.iter().collect();
        let out = apply(SRC, &refs);
        assert!(
            out.contains("for i in range(3): _teleforge.snippet(print(\"x; y\", (1, 2)), \"tf}\"); x += i"),
            "{out}"
        );
        assert_eq!(strip(&out), SRC);
    }

    fn import_of(src: &str) -> Edit {
        let mut p = tree_sitter::Parser::new();
        p.set_language(&Python.grammar()).unwrap();
        import_edit(src, &p.parse(src, None).unwrap()).unwrap()
    }

    #[test]
    fn import_goes_before_a_simple_first_statement_or_on_a_new_line() {
        assert_eq!(import_of("import os\n").offset, 0);
        assert!(import_of("import os\n").text.ends_with("; "));
        assert!(import_of("def f():\n    pass\n").text.ends_with("# teleforge+\n"));
        assert_eq!(module_name("pkg/__init__.py"), "pkg");
    }

    /// Every construct with the given form (clamped), the file edit first at one offset, as the
    /// pipeline renders.
    fn instrument_as(rel: &str, src: &str, form: usize) -> (Vec<Construct>, String) {
        let file = SourceFile { rel: rel.into(), text: src.into(), path: None };
        let mut p = tree_sitter::Parser::new();
        p.set_language(&Python.grammar()).unwrap();
        let tree = p.parse(src, None).unwrap();
        let cs = Python.discover(&file, &tree);
        let fe = Python.file_edits(&file, &tree);
        let mut edits: Vec<&Edit> = fe.iter().collect();
        for c in &cs {
            edits.extend(c.forms[form.min(c.forms.len() - 1)].edits.iter());
        }
        (cs.clone(), apply(src, &edits))
    }

    #[test]
    fn the_import_goes_above_an_empty_line_that_a_decorator_fills() {
        for (src, header) in [
            ("\ndef f(a):\n    return a\n", ""),
            ("# Copyright\n# header\n\ndef f(a):\n    return a\n", "# Copyright\n# header\n"),
            (
                "#!/usr/bin/env python3\n# -*- coding: latin-1 -*-\n\n\ndef f(a):\n    return a\n",
                "#!/usr/bin/env python3\n# -*- coding: latin-1 -*-\n",
            ),
            ("# c\r\n\r\ndef f(a):\r\n    return a\r\n", "# c\r\n"),
        ] {
            let (cs, out) = instrument_as("m.py", src, 0);
            assert_eq!(cs[0].forms[0].id, "py.func.decorator", "{src:?}");
            assert_eq!(strip(&out), src);
            // The import's line, then (after any other empty lines) the filled line, then `def`.
            let rest = out.strip_prefix(header).unwrap_or_else(|| panic!("header moved: {out:?}"));
            assert!(rest.starts_with(IMPORT), "{out:?}");
            let deco = rest.find("@_teleforge.instrument(").unwrap();
            let between = &rest[rest.find(ADDED_LINE).unwrap() + ADDED_LINE.len()..deco];
            assert!(between.chars().all(|c| c == '\n' || c == '\r'), "{out:?}");
            assert!(rest[deco..].lines().nth(1).unwrap().starts_with("def f"), "{out:?}");
            // The comment header, shebang and coding line keep their lines.
            assert_eq!(out.lines().count(), src.lines().count() + 1);
        }
    }

    #[test]
    fn a_loops_new_line_goes_above_the_empty_line_a_nested_function_fills() {
        let src = "def f(xs):\n    for x in xs:\n\n        def g():\n            return x\n        g()\n";
        let (cs, out) = instrument_as("m.py", src, 0);
        let lp = cs.iter().find(|c| c.kind == ConstructKind::Loop).unwrap();
        assert_eq!(lp.forms[0].id, "py.loop.line");
        assert!(
            out.contains("    for x in xs:\n        _teleforge.on and _teleforge.loop_iter(\"m.f\", \"m.py\", 2)  # teleforge+\n        @_teleforge.instrument(\"m.f.<locals>.g\", \"m.py\", 4)  # teleforge\n        def g():"),
            "{out}"
        );
        assert_eq!(strip(&out), src);
    }

    #[test]
    fn a_byte_order_mark_stays_first() {
        for src in [
            "\u{feff}def f(a):\n    return a\n",
            "\u{feff}import os\ndef f(a):\n    x = a\n    return x\n",
            "\u{feff}\ndef f(a):\n    return a\n",
        ] {
            for form in 0..3 {
                let (cs, out) = instrument_as("m.py", src, form);
                assert!(cs.iter().any(|c| c.kind == ConstructKind::Function), "{src:?}: function not found");
                assert!(out.starts_with('\u{feff}') && out.matches('\u{feff}').count() == 1, "{out:?}");
                assert_eq!(strip(&out), src);
            }
        }
    }

    #[test]
    fn concatenated_docstrings_stay_first() {
        let src = "\"mod\" \"doc\"\ndef f(a):\n    \"\"\"f\"\"\" \"doc\"\n    return a\n";
        let (_, out) = instrument_as("m.py", src, 0);
        assert!(out.starts_with(&format!("\"mod\" \"doc\"; {IMPORT}\n")), "{out}");
        assert!(out.contains("    \"\"\"f\"\"\" \"doc\"\n    _teleforge.on and _teleforge.func_call("), "{out}");
        assert_eq!(strip(&out), src);
    }

    #[test]
    fn overloads_and_abstract_or_protocol_stubs_are_left_alone() {
        let src = "import abc, typing\nfrom typing import Protocol, overload\n\n\nclass P(Protocol):\n    def a(self) -> int: ...\n\n    def b(self) -> int:\n        \"\"\"Doc.\"\"\"\n\n    def c(self) -> int:\n        return 1\n\n\nclass Q(typing.Protocol[int]):\n    def a(self) -> int:\n        ...\n\n\nclass A(abc.ABC):\n    @abc.abstractmethod\n    def a(self) -> int: ...\n\n    @property\n    @abstractmethod\n    def b(self) -> int:\n        ...\n\n    @abc.abstractmethod\n    def c(self) -> int:\n        return 2\n\n    def d(self) -> int: ...\n\n\n@overload\ndef f(x: int) -> int: ...\n@typing.overload\ndef f(x: str) -> str: ...\ndef f(x):\n    return x\n";
        let (cs, _) = instrument_as("m.py", src, 0);
        let names: Vec<&str> =
            cs.iter().filter(|c| c.kind == ConstructKind::Function).map(|c| c.function.as_str()).collect();
        assert_eq!(names, ["m.P.c", "m.A.c", "m.A.d", "m.f"]);
        assert_eq!(cs.iter().find(|c| c.function == "m.f").unwrap().line, 40);
    }
}
