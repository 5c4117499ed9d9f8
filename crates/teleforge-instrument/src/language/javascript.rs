//! JavaScript: functions of every shape (declarations, expressions, arrows, methods, getters,
//! setters, constructors, generators, async), loops (`for`, `for-in`, `for-of`, `for await`,
//! `while`, `do-while`) and statement-level assignments inside functions (`const/let/var`
//! declarators with an identifier name and a value; `x = …`, `x += …`, `a = b = …` expression
//! statements).
//!
//! **Line numbers.** Every insertion stays on an existing line: a function's entry and `try {`
//! go after its body's `{` (or after its directive prologue), `} catch … finally …` goes before
//! its closing `}`, `return X` becomes `return Tel.funcExit(span, X)` in place, an arrow's
//! expression body gets its block and temporary on the lines the expression already occupies,
//! a loop's count goes after its body's `{` (a body without braces gets marked braces on its own
//! lines), an assignment's record goes after its statement, and the runtime import goes on the
//! line of the last directive or of the first statement. So stack traces, `Error().stack`,
//! coverage and `file:line` logs still point at the user's lines; columns move on changed lines.
//! One visible difference: when a *synchronous* exception ends the process, node's first line
//! (`file.js:N` above the caret) names the line where the exception last left an instrumented
//! function (its closing brace, where it is rethrown); the stack trace below it is unchanged.
//!
//! **Module systems.** A file is an ES module or CommonJS by its extension (`.mjs`, `.cjs`), else
//! the nearest `package.json` `"type"`, else its own syntax (a top-level `import`/`export`), else
//! CommonJS: the feature `module`. (`SourceFile` carries no path on disk yet, so the
//! `package.json` step only runs where `source_dir` can tell; a file whose package says
//! `"module"` but which has no module syntax is then taken for CommonJS, and the validator,
//! which reads `package.json`, rejects the `require` and leaves its constructs out.) The runtime
//! `_teleforge_tel.cjs` is written once at the instrumented root; every instrumented file binds
//! it as `__teleforgeTel` (a name user code does not use, so a file declaring its own `Tel` keeps
//! working): ES modules with a static `import` (bound before any code of the module runs, even in
//! import cycles), CommonJS with a `require` as its first statement that falls back to no-ops when
//! the runtime file is missing (a file copied away from its tree, as some test suites do). The
//! import goes after the directive prologue, so `"use strict"` stays first and strictness holds.
//!
//! **Shapes** (FIELD-NOTES' traps): generators and async generators record entry and exit (on
//! completion, `return()` or error) but never wrap a `return` value or a `yield`; derived-class
//! constructors use the same forms because no snippet ever reads `this` (the entry runs before
//! `super()` and only reads parameters); getters and setters are methods (a getter's result is
//! recorded); class field initialisers are not functions and are left alone (an arrow function
//! stored in a field is a function and is instrumented); arrow functions with an expression body
//! get a block with the span as a temporary. A function's own directive prologue stays first in
//! its body.
//!
//! **Forms**, richest first: functions `js.func.full` (arguments, results through every `return`
//! of that function, errors), `js.func.no_results`, `js.func.bare` (no arguments); generators
//! `js.gen.full`, `js.gen.bare`; arrow functions with an expression body `js.arrow.full`,
//! `js.arrow.no_results`, `js.arrow.bare`; loops `js.loop.iter` (`js.loop.iter_braced` when braces
//! are added); assignments `js.var.value`.
//!
//! Left alone: minified or bundled files (a line over 1000 characters, `*.min.js`), generated
//! files (`@generated`, `DO NOT EDIT` in the header), test files unless `--include-tests`, loops
//! and assignments at module top level and in class static blocks (they run once, and are mostly
//! imports and constants), declarations that are not statements of a block (`for (let i …)`,
//! `if (a) var x = 1`), destructuring targets, and loops whose body is a bare declaration.
//!
//! Every construct is emitted when the walk *leaves* its node, so constructs nested inside
//! another come first; the pipeline keeps that order for insertions at the same offset, which is
//! what puts an inner arrow's closing text before the `)` of an outer `return` or the record of
//! a declaration that ends at the same byte. The pipeline applies identical edits at one offset
//! once, so nested constructs that close at the same byte never emit identical text (span names
//! and loop braces carry their nesting depth). One exception: a loop whose body has no braces
//! and ends where a `return` of the enclosing function ends (`for (…) if (x) return x`, no `;`)
//! is emitted after that function, so the return's `)` comes before the loop's added `}`; when
//! the function's closing brace follows at once (`return x}`), that loop is left alone.

use std::collections::{BTreeMap, HashMap};

use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use regex::Regex;
use tree_sitter::{Node, Tree};

use super::shared::{self, compact, yes, TestNames};
use super::{LanguageSupport, RuntimeFile, SourceFile};
use crate::construct::{Construct, ConstructKind, Edit, Form, Slot};
use crate::rewrite::marked;

/// The runtime, written once at the instrumented root.
const RUNTIME: &str = include_str!("../../runtime/javascript/_teleforge_tel.cjs");
/// The runtime's file name.
pub const RUNTIME_FILE: &str = "_teleforge_tel.cjs";
/// The binding every instrumented file gives the runtime.
pub const BINDING: &str = "__teleforgeTel";
/// A function's span, a `const` in its body.
const SPAN: &str = "__teleforgeS";
/// The caught exception.
const CAUGHT: &str = "__teleforgeE";
/// Lines longer than this mean a minified or bundled file.
const MINIFIED_LINE: usize = 1000;

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

    fn test_names(&self) -> TestNames {
        TestNames { infixes: &[".test.", ".spec.", "_test."], ..TestNames::default() }
    }

    fn skip_file(&self, text: &str) -> Option<&'static str> {
        let head = shared::first_lines(text, 5);
        if shared::generated_mark(head, &["//", "/*", "*"]) {
            return Some("generated");
        }
        if text.lines().any(|l| l.len() > MINIFIED_LINE) {
            return Some("minified or bundled (a line over 1000 characters)");
        }
        if head.starts_with("/******/") {
            return Some("bundled");
        }
        None
    }

    fn discover(&self, file: &SourceFile, tree: &Tree) -> Vec<Construct> {
        if is_minified_name(&file.rel) {
            return Vec::new();
        }
        discover_with(file, tree, Dialect::JavaScript, module_system_of(file, tree))
    }

    fn file_edits(&self, file: &SourceFile, tree: &Tree) -> Vec<Edit> {
        vec![import_edit(&file.text, &file.rel, tree, module_system_of(file, tree))]
    }

    fn runtime_files(&self, instrumented: &[&SourceFile]) -> Vec<RuntimeFile> {
        shared::runtime_at_root(instrumented, RUNTIME_FILE, RUNTIME)
    }

    fn is_runtime_file(&self, rel: &str) -> bool {
        shared::is_named(rel, &[RUNTIME_FILE])
    }

    fn slot(&self, c: &Construct) -> Option<Slot> {
        // One statement where the first template form's first edit goes: after a function body's
        // `{` (or its directives), after a loop body's `{`, after an assignment statement. Arrow
        // functions with an expression body and loops without braces have no statement position.
        let form = c.forms.first()?;
        let edit = form.edits.first()?;
        let (hint, needs_semicolon) = match c.kind {
            ConstructKind::Function if c.features.get("arrow_expression_body").is_some_and(|v| v == "yes") => {
                return None
            }
            ConstructKind::Function => (
                "one JavaScript statement, run first in the function body",
                edit.text.starts_with(&format!("{}{}", crate::rewrite::OPEN, ';')),
            ),
            ConstructKind::Loop if form.id != "js.loop.iter" => return None,
            ConstructKind::Loop => ("one JavaScript statement, run first in every iteration of the loop body", false),
            ConstructKind::Variable => (
                "one JavaScript statement, run right after the assignment",
                edit.text.starts_with(&format!("{}{}", crate::rewrite::OPEN, ';')),
            ),
        };
        Some(shared::marked_slot(
            edit.offset,
            if needs_semicolon { "; " } else { " " },
            ";",
            format!("{hint}; the telemetry runtime is bound to `{BINDING}` (funcEntry, funcExit, funcError, loopIter, varAssign)"),
        ))
    }
}

/// The module systems, as the feature `module` and `js_check.mjs`'s `kind` spell them.
pub const ESM: &str = "esm";
pub const CJS: &str = "cjs";

impl JavaScript {
    /// `esm` or `cjs` when the extension decides (`.mjs`, `.cjs`).
    pub fn module_by_extension(path: &str) -> Option<&'static str> {
        if path.ends_with(".mjs") {
            Some(ESM)
        } else if path.ends_with(".cjs") {
            Some(CJS)
        } else {
            None
        }
    }

    /// The `"type"` of the nearest `package.json` at or above `dir`, as node reads it: the search
    /// stops at the first `package.json` found, with or without a `"type"`. `cache` maps folders
    /// already looked at to their answer.
    pub fn package_type(dir: &Path, cache: &mut HashMap<PathBuf, Option<&'static str>>) -> Option<&'static str> {
        let mut visited = Vec::new();
        let mut cur = Some(dir);
        let mut found = None;
        while let Some(d) = cur {
            if let Some(hit) = cache.get(d) {
                found = *hit;
                break;
            }
            visited.push(d.to_path_buf());
            let pj = d.join("package.json");
            if let Ok(text) = std::fs::read_to_string(&pj) {
                found = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| {
                    match v.get("type").and_then(|t| t.as_str()) {
                        Some("module") => Some(ESM),
                        Some("commonjs") => Some(CJS),
                        _ => None,
                    }
                });
                break;
            }
            cur = d.parent();
        }
        for d in visited {
            cache.insert(d, found);
        }
        found
    }

    /// Whether `text` is an ES module by its syntax: a top-level `import` declaration or `export`,
    /// decided on its syntax tree exactly as discovery decides (so the validator, which has only
    /// the text, never checks a file as the other module system: text in a template literal or
    /// a longer name such as `imports,` is not a declaration). Without a tree, by its lines.
    pub fn esm_syntax(text: &str) -> bool {
        let mut parser = tree_sitter::Parser::new();
        if parser.set_language(&JavaScript.grammar()).is_ok() {
            if let Some(tree) = parser.parse(text, None) {
                return has_module_syntax(&tree);
            }
        }
        Self::esm_lines(text)
    }

    /// [`Self::esm_syntax`] without a parse: a line starting with an `import` declaration or an
    /// `export`.
    fn esm_lines(text: &str) -> bool {
        static ESM_LINE: LazyLock<Regex> = LazyLock::new(|| {
            // `import x from`, `import x, {…}`, `import {…}`, `import * as`, `import "x"`; not a
            // line that starts with a longer name (`imports,` in an object literal).
            Regex::new(r#"(?m)^[ \t]*(?:import(?:[ \t]+[\w$]+[ \t]*(?:,|from\b)|[ \t]*[{*"'])|export[ \t]+(?:default|const|let|var|function|class|async|\{|\*)|export[ \t]*[{*])"#)
                .unwrap()
        });
        ESM_LINE.is_match(text)
    }

    /// The module system discovery gave a file teleforge instrumented, read from the runtime import
    /// it inserted ([`import_edit`]: a static import in an ES module, a `require` in CommonJS);
    /// `None` for a file without one. Cheaper than [`Self::esm_syntax`], which parses the file.
    pub fn module_of_instrumented(text: &str) -> Option<&'static str> {
        if !text.contains(crate::rewrite::OPEN) {
            return None;
        }
        if text.contains(&format!("import {BINDING} from ")) {
            Some(ESM)
        } else if text.contains(&format!("const {BINDING} = (() => {{ try {{ return require(")) {
            Some(CJS)
        } else {
            None
        }
    }

    /// The module system of the file at `path` (absolute, or relative to the working folder):
    /// extension, then the nearest `package.json` `"type"`, then its syntax (`text` is only read
    /// when it decides), else CommonJS.
    pub fn module_system(
        path: &Path,
        text: impl FnOnce() -> String,
        cache: &mut HashMap<PathBuf, Option<&'static str>>,
    ) -> &'static str {
        if let Some(k) = Self::module_by_extension(&path.to_string_lossy()) {
            return k;
        }
        if let Some(k) = path.parent().and_then(|d| Self::package_type(d, cache)) {
            return k;
        }
        if Self::esm_syntax(&text()) {
            ESM
        } else {
            CJS
        }
    }
}

/// The constructs of a file parsed with `dialect`'s grammar, whose module system is `module`.
pub(crate) fn discover_with(file: &SourceFile, tree: &Tree, dialect: Dialect, module: &'static str) -> Vec<Construct> {
    let mut w = Walker {
        t: dialect.tables(),
        opaque: 0,
        src: &file.text,
        file_lit: lit(&file.rel),
        module,
        ancestors: Vec::new(),
        scopes: Vec::new(),
        out: Vec::new(),
    };
    w.run(tree);
    w.out
}

/// The folder holding the file on disk, for the `package.json` lookup; without one (a file not
/// read from disk) the module system falls back to the file's syntax.
fn source_dir(file: &SourceFile) -> Option<PathBuf> {
    file.path.as_deref()?.parent().map(Path::to_path_buf)
}

/// `package.json` answers by folder, for the life of the process.
static PACKAGE_TYPES: LazyLock<Mutex<HashMap<PathBuf, Option<&'static str>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The module system of a parsed file: extension, `package.json`, top-level `import`/`export`,
/// else CommonJS.
pub(crate) fn module_system_of(file: &SourceFile, tree: &Tree) -> &'static str {
    if let Some(k) = JavaScript::module_by_extension(&file.rel) {
        return k;
    }
    if let Some(dir) = source_dir(file) {
        let mut cache = PACKAGE_TYPES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = JavaScript::package_type(&dir, &mut cache) {
            return k;
        }
    }
    if has_module_syntax(tree) {
        ESM
    } else {
        CJS
    }
}

/// A top-level `import` declaration or `export`.
fn has_module_syntax(tree: &Tree) -> bool {
    let root = tree.root_node();
    let mut c = root.walk();
    let esm = root.children(&mut c).any(|n| matches!(n.kind(), "import_statement" | "export_statement"));
    esm
}

pub(crate) fn is_minified_name(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    [".min.js", ".min.mjs", ".min.cjs", "-min.js", ".bundle.js"].iter().any(|s| name.ends_with(s))
}

/// JavaScript string literals cannot end a block comment (inserted text sits inside
/// `/*tf{*/ … /*}tf*/` markers).
pub(crate) use super::shared::quote_in_block_comment_language as lit;

fn itoa(n: usize) -> String {
    n.to_string()
}

/// The import of the runtime: after the directive prologue, on the last directive's line, else
/// at the first statement (after a hashbang line, which must stay alone on line 1). ES modules
/// import it statically (bound before any code of the module runs, even in import cycles);
/// CommonJS requires it as the first statement, falling back to no-ops when the runtime file is
/// missing (a file copied away from its tree, as some test suites do).
pub(crate) fn import_edit(src: &str, rel: &str, tree: &Tree, module: &str) -> Edit {
    let path = runtime_path(rel);
    let import = if module == ESM {
        format!("import {BINDING} from {};", lit(&path))
    } else {
        // A file copied away from its runtime keeps working, without telemetry.
        format!(
            "const {BINDING} = (() => {{ try {{ return require({}); }} catch {{ return {{ funcEntry: () => null, funcExit: (s, r) => r, funcError: (s, e) => e, loopIter() {{}}, varAssign: (n, f, l, v, x) => x }}; }} }})();",
            lit(&path)
        )
    };
    import_at(src, tree, &import)
}

/// The runtime's path relative to the file `rel` (both relative to the instrumented root).
pub(crate) fn runtime_path(rel: &str) -> String {
    let depth = rel.matches('/').count();
    if depth == 0 {
        format!("./{RUNTIME_FILE}")
    } else {
        format!("{}{RUNTIME_FILE}", "../".repeat(depth))
    }
}

/// The edit that puts the statement `import` after the directive prologue, on the last
/// directive's line, else before the first statement on its line.
pub(crate) fn import_at(src: &str, tree: &Tree, import: &str) -> Edit {
    let root = tree.root_node();
    let stmts: Vec<Node<'_>> = {
        let mut c = root.walk();
        root.named_children(&mut c).filter(|n| !matches!(n.kind(), "comment" | "hash_bang_line")).collect()
    };
    let directives = directive_count(&stmts);
    if directives > 0 {
        let (offset, semi) = after_directive(stmts[directives - 1]);
        return Edit { offset, text: marked(&format!("{semi} {import}")) };
    }
    let offset = stmts.first().map_or(src.len(), |n| n.start_byte());
    Edit { offset, text: marked(&format!("{import} ")) }
}

/// How many of `stmts` (comments left out) form a directive prologue.
fn directive_count(stmts: &[Node<'_>]) -> usize {
    stmts.iter().take_while(|s| is_directive(**s)).count()
}

/// A directive: an expression statement that is a single string literal (comments inside the
/// statement, as in `"use strict" // why`, do not count).
fn is_directive(s: Node<'_>) -> bool {
    if s.kind() != "expression_statement" {
        return false;
    }
    let mut c = s.walk();
    let mut parts = s.named_children(&mut c).filter(|n| n.kind() != "comment");
    parts.next().is_some_and(|e| e.kind() == "string") && parts.next().is_none()
}

/// Where a statement can follow `directive` on its line, and the `;` it needs there: after its
/// `;`, else right after the string (before a comment the statement holds, which would otherwise
/// swallow the insertion).
fn after_directive(directive: Node<'_>) -> (usize, &'static str) {
    let mut c = directive.walk();
    let last = directive.children(&mut c).filter(|n| n.kind() != "comment").last();
    match last {
        Some(n) if n.kind() == ";" => (n.end_byte(), ""),
        Some(n) => (n.end_byte(), ";"),
        None => (directive.end_byte(), ";"),
    }
}

/// What encloses the node being visited.
enum Scope {
    Function(Frame),
    /// A class body's members are qualified with the class name.
    Class(String),
    /// An object literal's methods are qualified with its name, when it has one.
    Object(Option<String>),
    /// A class static block: not a function, its statements are left alone.
    Static,
}

/// A function being walked: its name and the `return` expressions that belong to it.
struct Frame {
    name: String,
    tokens: Tokens,
    /// Byte ranges of returned expressions, and whether each is a comma (sequence) expression.
    returns: Vec<(usize, usize, bool)>,
    derived_constructor: bool,
    /// Left alone (a TypeScript derived constructor whose `super()` must stay a root-level
    /// statement of its body); what is inside it is still instrumented.
    skip: bool,
    /// Loops emitted after this function's construct (see [`Walker::loop_`]).
    deferred: Vec<Construct>,
}

struct Walker<'a> {
    /// The grammar's kind and field ids.
    t: &'static Tables,
    /// How many [`Hot::Opaque`] nodes enclose the current one.
    opaque: usize,
    src: &'a str,
    /// The file's path as a string literal.
    file_lit: String,
    module: &'static str,
    /// The nodes above the current one (the last is its parent).
    ancestors: Vec<Node<'a>>,
    scopes: Vec<Scope>,
    out: Vec<Construct>,
}

/// The node kinds discovery acts on, looked up by kind id (comparing kind names costs a
/// `strlen` and a UTF-8 check per node).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hot {
    Other,
    Function,
    Class,
    Object,
    StaticBlock,
    Return,
    Loop,
    Declaration,
    ExpressionStatement,
    /// TypeScript code that is left alone with everything inside it.
    Opaque,
}

/// What one grammar's node kinds and fields are, by id.
pub(crate) struct Tables {
    hot: Vec<Hot>,
    f: Fields,
    /// The TypeScript grammars (type annotations, parameter properties, ambient code).
    ts: bool,
}

/// The grammars this module walks: JavaScript (with JSX), TypeScript and TSX. Where the grammars
/// agree (statements, expressions, functions, classes), one walker serves all three; what only
/// TypeScript has is looked at only when [`Tables::ts`] is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    JavaScript,
    TypeScript,
    Tsx,
}

impl Dialect {
    pub(crate) fn grammar(self) -> tree_sitter::Language {
        match self {
            Dialect::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Dialect::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Dialect::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
        }
    }

    fn tables(self) -> &'static Tables {
        static JS: LazyLock<Tables> = LazyLock::new(|| tables(Dialect::JavaScript));
        static TS: LazyLock<Tables> = LazyLock::new(|| tables(Dialect::TypeScript));
        static TSX: LazyLock<Tables> = LazyLock::new(|| tables(Dialect::Tsx));
        match self {
            Dialect::JavaScript => &JS,
            Dialect::TypeScript => &TS,
            Dialect::Tsx => &TSX,
        }
    }
}

fn tables(dialect: Dialect) -> Tables {
    let lang = dialect.grammar();
    let ts = dialect != Dialect::JavaScript;
    let hot = (0..lang.node_kind_count() as u16)
        .map(|id| {
            if !lang.node_kind_is_named(id) {
                return Hot::Other;
            }
            match lang.node_kind_for_id(id).unwrap_or("") {
                "function_declaration"
                | "generator_function_declaration"
                | "function_expression"
                | "generator_function"
                | "arrow_function"
                | "method_definition" => Hot::Function,
                "class" | "class_declaration" | "abstract_class_declaration" => Hot::Class,
                "object" => Hot::Object,
                "class_static_block" => Hot::StaticBlock,
                "return_statement" => Hot::Return,
                "for_statement" | "for_in_statement" | "while_statement" | "do_statement" => Hot::Loop,
                "lexical_declaration" | "variable_declaration" => Hot::Declaration,
                "expression_statement" => Hot::ExpressionStatement,
                // TypeScript: `declare …` (no code), enums and namespaces are left alone, and so
                // is everything inside them.
                "ambient_declaration" | "enum_declaration" | "internal_module" | "module" if ts => Hot::Opaque,
                _ => Hot::Other,
            }
        })
        .collect();
    let id = |n: &str| lang.field_id_for_name(n).map_or(0, |f| f.get());
    let f = Fields {
        body: id("body"),
        name: id("name"),
        parameters: id("parameters"),
        parameter: id("parameter"),
        value: id("value"),
        left: id("left"),
        right: id("right"),
        key: id("key"),
        property: id("property"),
        operator: id("operator"),
        pattern: id("pattern"),
        return_type: id("return_type"),
    };
    Tables { hot, f, ts }
}

/// Field ids of a grammar (`child_by_field_name` compares the name with every field's).
struct Fields {
    body: u16,
    name: u16,
    parameters: u16,
    parameter: u16,
    value: u16,
    left: u16,
    right: u16,
    key: u16,
    property: u16,
    operator: u16,
    /// TypeScript's `required_parameter`/`optional_parameter` (0 in JavaScript).
    pattern: u16,
    /// TypeScript's return type annotation (0 in JavaScript).
    return_type: u16,
}

/// The child of `node` in field `id` (see [`FIELDS`]).
fn field(node: Node<'_>, id: u16) -> Option<Node<'_>> {
    if id == 0 {
        return None;
    }
    node.child_by_field_id(id)
}

/// Concatenation with one allocation.
fn cat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// `parts` concatenated inside the markers.
fn mark(parts: &[&str]) -> String {
    let mut out = String::with_capacity(
        crate::rewrite::OPEN.len() + crate::rewrite::CLOSE.len() + parts.iter().map(|p| p.len()).sum::<usize>(),
    );
    out.push_str(crate::rewrite::OPEN);
    for p in parts {
        out.push_str(p);
    }
    out.push_str(crate::rewrite::CLOSE);
    out
}

/// The anonymous tokens of a function node that decide its shape.
#[derive(Clone, Copy, Default)]
struct Tokens {
    is_async: bool,
    star: bool,
    get: bool,
    set: bool,
    is_static: bool,
}

fn tokens(node: Node<'_>) -> Tokens {
    let mut t = Tokens::default();
    let mut c = node.walk();
    if c.goto_first_child() {
        loop {
            let n = c.node();
            if !n.is_named() {
                match n.kind() {
                    "async" => t.is_async = true,
                    "*" => t.star = true,
                    "get" => t.get = true,
                    "set" => t.set = true,
                    "static" => t.is_static = true,
                    "(" | "=>" | "{" => break,
                    _ => {}
                }
            }
            if !c.goto_next_sibling() {
                break;
            }
        }
    }
    t
}

/// Whether `node` has an anonymous child token `tok` (`async`, `get`, `*`, `static`).
fn has_token(node: Node<'_>, tok: &str) -> bool {
    let mut c = node.walk();
    let found = node.children(&mut c).any(|n| !n.is_named() && n.kind() == tok);
    found
}

impl<'a> Walker<'a> {
    fn hot(&self, node: Node<'_>) -> Hot {
        self.t.hot.get(node.kind_id() as usize).copied().unwrap_or(Hot::Other)
    }

    fn text(&self, n: Node<'_>) -> &'a str {
        &self.src[n.byte_range()]
    }

    /// One cursor walk over the whole tree, calling `enter` and `leave` for every node.
    fn run(&mut self, tree: &'a Tree) {
        let mut cursor = tree.walk();
        loop {
            let node = cursor.node();
            self.enter(node);
            self.ancestors.push(node);
            if cursor.goto_first_child() {
                continue;
            }
            loop {
                let Some(done) = self.ancestors.pop() else { return };
                self.leave(done);
                if cursor.goto_next_sibling() {
                    break;
                }
                if !cursor.goto_parent() {
                    return;
                }
            }
        }
    }

    fn parent(&self) -> Option<Node<'a>> {
        self.ancestors.last().copied()
    }

    /// The parent, looking through parentheses.
    fn context(&self) -> Option<Node<'a>> {
        self.ancestors.iter().rev().copied().find(|n| n.kind() != "parenthesized_expression")
    }

    /// The innermost enclosing function, unless a class static block comes first.
    fn function_frame(&mut self) -> Option<&mut Frame> {
        for s in self.scopes.iter_mut().rev() {
            match s {
                Scope::Function(f) => return Some(f),
                Scope::Static => return None,
                _ => {}
            }
        }
        None
    }

    fn enclosing_name(&self) -> Option<&str> {
        self.scopes.iter().rev().find_map(|s| match s {
            Scope::Function(f) => Some(f.name.as_str()),
            _ => None,
        })
    }

    fn enter(&mut self, node: Node<'a>) {
        match self.hot(node) {
            Hot::Function => {
                let tokens = tokens(node);
                let name = self.function_name(node, tokens);
                let derived_constructor =
                    node.kind() == "method_definition" && self.is_derived_constructor(node, tokens);
                let skip = derived_constructor && self.t.ts && self.super_must_be_root(node);
                self.scopes.push(Scope::Function(Frame {
                    name,
                    tokens,
                    returns: Vec::new(),
                    derived_constructor,
                    skip,
                    deferred: Vec::new(),
                }));
            }
            Hot::Class => {
                let name = field(node, self.t.f.name)
                    .map(|n| self.text(n).to_string())
                    .or_else(|| self.inferred_name())
                    .unwrap_or_else(|| "<class>".to_string());
                self.scopes.push(Scope::Class(name));
            }
            Hot::Object => {
                let name = self.inferred_name();
                self.scopes.push(Scope::Object(name));
            }
            Hot::StaticBlock => self.scopes.push(Scope::Static),
            Hot::Opaque => self.opaque += 1,
            Hot::Return => {
                let Some(expr) = node.named_children(&mut node.walk()).find(|n| n.kind() != "comment") else {
                    return;
                };
                let seq = expr.kind() == "sequence_expression";
                if let Some(f) = self.function_frame() {
                    f.returns.push((expr.start_byte(), expr.end_byte(), seq));
                }
            }
            _ => {}
        }
    }

    fn leave(&mut self, node: Node<'a>) {
        match self.hot(node) {
            Hot::Function => {
                if let Some(Scope::Function(mut frame)) = self.scopes.pop() {
                    let deferred = std::mem::take(&mut frame.deferred);
                    if self.opaque == 0 && !frame.skip {
                        self.function(node, frame);
                    }
                    self.out.extend(deferred);
                }
            }
            Hot::Opaque => self.opaque -= 1,
            // Scopes opened inside opaque code close there too.
            Hot::Class | Hot::Object | Hot::StaticBlock => {
                self.scopes.pop();
            }
            _ if self.opaque > 0 => {}
            Hot::Loop => self.loop_(node),
            Hot::Declaration => self.declaration(node),
            Hot::ExpressionStatement => self.assignment(node),
            Hot::Return | Hot::Other => {}
        }
    }

    /// The name the surrounding code gives an anonymous function, object or class: a variable,
    /// an assignment target, an object key, a class field, a parameter default, `export default`.
    fn inferred_name(&self) -> Option<String> {
        let ctx = self.context()?;
        match ctx.kind() {
            "variable_declarator" => {
                field(ctx, self.t.f.name).filter(|n| n.kind() == "identifier").map(|n| self.text(n).to_string())
            }
            "assignment_expression" => field(ctx, self.t.f.left)
                .filter(|n| matches!(n.kind(), "identifier" | "member_expression"))
                .map(|n| compact(self.text(n))),
            "assignment_pattern" => field(ctx, self.t.f.left).map(|n| compact(self.text(n))),
            "pair" => field(ctx, self.t.f.key).map(|k| self.qualified(&key_name(self.text(k)))),
            "field_definition" => field(ctx, self.t.f.property).map(|k| self.qualified(&key_name(self.text(k)))),
            "public_field_definition" => field(ctx, self.t.f.name).map(|k| self.qualified(&key_name(self.text(k)))),
            "export_statement" => Some("default".to_string()),
            _ => None,
        }
    }

    /// `name` qualified with the innermost class or named object literal.
    fn qualified(&self, name: &str) -> String {
        match self.scopes.last() {
            Some(Scope::Class(c)) => format!("{c}.{name}"),
            Some(Scope::Object(Some(o))) => format!("{o}.{name}"),
            _ => name.to_string(),
        }
    }

    fn function_name(&self, node: Node<'a>, tokens: Tokens) -> String {
        if node.kind() == "method_definition" {
            let key = field(node, self.t.f.name).map(|n| key_name(self.text(n))).unwrap_or_default();
            let key = if tokens.get {
                format!("get {key}")
            } else if tokens.set {
                format!("set {key}")
            } else {
                key
            };
            return self.qualified(&key);
        }
        if let Some(n) = field(node, self.t.f.name) {
            return self.text(n).to_string();
        }
        if let Some(n) = self.inferred_name() {
            return n;
        }
        match self.enclosing_name() {
            Some(outer) => format!("{outer}.<anonymous>"),
            None => "<anonymous>".to_string(),
        }
    }

    /// A `constructor` method of a class with an `extends` clause.
    fn is_derived_constructor(&self, node: Node<'a>, tokens: Tokens) -> bool {
        let is_ctor = field(node, self.t.f.name).is_some_and(|n| self.text(n) == "constructor") && !tokens.is_static;
        if !is_ctor {
            return false;
        }
        let n = self.ancestors.len();
        if n < 2 || self.ancestors[n - 1].kind() != "class_body" {
            return false;
        }
        let class = self.ancestors[n - 2];
        let mut c = class.walk();
        let heritage = class.children(&mut c).find(|k| k.kind() == "class_heritage");
        // JavaScript: `extends X`; TypeScript: an `extends_clause` (an `implements_clause` alone
        // does not make a derived class).
        heritage.is_some_and(|h| h.child(0).is_some_and(|k| matches!(k.kind(), "extends" | "extends_clause")))
    }

    /// TypeScript requires `super(…)` to be a root-level statement of a derived constructor when
    /// its class has parameter properties, initialised properties or `#private` members; wrapping
    /// the body in `try` would break that.
    fn super_must_be_root(&self, ctor: Node<'a>) -> bool {
        let params = field(ctor, self.t.f.parameters);
        let mut c = ctor.walk();
        let param_props = params.is_some_and(|list| {
            list.named_children(&mut c).any(|p| {
                let mut c2 = p.walk();
                let found = p
                    .children(&mut c2)
                    .any(|k| matches!(k.kind(), "accessibility_modifier" | "override_modifier" | "readonly"));
                found
            })
        });
        if param_props {
            return true;
        }
        let Some(body) = self.ancestors.last().copied() else { return false };
        let mut c = body.walk();
        let members = body.named_children(&mut c).any(|m| {
            let initialised = m.kind() == "public_field_definition" && field(m, self.t.f.value).is_some();
            let private = field(m, self.t.f.name).is_some_and(|n| n.kind() == "private_property_identifier");
            initialised || private
        });
        members
    }

    /// Statement-level: a statement of a block or a `switch` case inside a function.
    fn statement_level(&mut self) -> bool {
        let parent_ok =
            self.parent().is_some_and(|p| matches!(p.kind(), "statement_block" | "switch_case" | "switch_default"));
        parent_ok && self.function_frame().is_some()
    }

    fn site(&self, name: &str, line: usize) -> String {
        cat(&[&lit(name), ", ", &self.file_lit, ", ", itoa(line).as_str()])
    }

    fn function(&mut self, node: Node<'a>, frame: Frame) {
        let Some(body) = field(node, self.t.f.body) else { return };
        let kind = node.kind();
        let is_arrow = kind == "arrow_function";
        let expression_body = body.kind() != "statement_block";
        let is_method = kind == "method_definition";
        let t = frame.tokens;
        let is_async = t.is_async;
        let is_generator =
            matches!(kind, "generator_function" | "generator_function_declaration") || (is_method && t.star);
        let method_kind = if !is_method {
            "none"
        } else if t.get {
            "get"
        } else if t.set {
            "set"
        } else if field(node, self.t.f.name).is_some_and(|n| self.text(n) == "constructor")
            && !t.is_static
            && self.parent().is_some_and(|p| p.kind() == "class_body")
        {
            "constructor"
        } else {
            "method"
        };
        let line_node = field(node, self.t.f.name).unwrap_or(node);
        let line = line_node.start_position().row + 1;

        let mut params = Vec::new();
        let mut patterns = false;
        if let Some(p) = field(node, self.t.f.parameter) {
            params.push(self.text(p).to_string());
        } else if let Some(list) = field(node, self.t.f.parameters) {
            let mut c = list.walk();
            for p in list.named_children(&mut c) {
                if p.kind() == "comment" {
                    continue;
                }
                let simple = match field(p, self.t.f.pattern) {
                    // TypeScript: `a: T`, `a?: T`, `private a: T`; `this: T` binds nothing.
                    Some(pat) => matches!(pat.kind(), "identifier" | "this"),
                    None => p.kind() == "identifier",
                };
                if !simple {
                    patterns = true;
                }
                self.bound_names(p, &mut params);
            }
        }
        params.dedup();

        let mut features = BTreeMap::new();
        let function_kind = match kind {
            "function_declaration" | "generator_function_declaration" => "declaration",
            "function_expression" | "generator_function" => "expression",
            "arrow_function" => "arrow",
            _ => "method",
        };
        features.insert("function_kind".to_string(), function_kind.to_string());
        features.insert("method_kind".into(), method_kind.into());
        features.insert("async".into(), yes(is_async));
        features.insert("generator".into(), yes(is_generator));
        features.insert("arrow_expression_body".into(), yes(is_arrow && expression_body));
        features.insert("derived_constructor".into(), yes(frame.derived_constructor));
        features.insert("module".into(), self.module.into());
        features.insert(
            "params".into(),
            if params.is_empty() && !patterns {
                "none"
            } else if patterns {
                "patterns"
            } else {
                "simple"
            }
            .into(),
        );

        // Nested functions get their own span names: an inner arrow's closing text then differs
        // from its outer arrow's at the same offset (the pipeline applies identical edits at
        // one offset once).
        let depth = self.scopes.iter().filter(|s| matches!(s, Scope::Function(_))).count();
        let span = format!("{SPAN}{depth}");
        let site = self.site(&frame.name, line);
        let args = if params.is_empty() { String::new() } else { cat(&[", { ", &params.join(", "), " }"]) };
        let entry = cat(&[BINDING, ".funcEntry(", &site, &args, ")"]);
        let bare_entry = cat(&[BINDING, ".funcEntry(", &site, ")"]);
        let catch = cat(&["catch (", CAUGHT, ") { throw ", BINDING, ".funcError(", &span, ", ", CAUGHT, "); }"]);
        let finally = cat(&["finally { ", BINDING, ".funcExit(", &span, "); }"]);
        // TypeScript: a declared return type is the exit call's type argument, so a returned
        // expression is typed in exactly the context it had (a generic call inside it infers
        // from the declared type, not through `funcExit`'s own inference).
        let exit_call = match self.declared_return_type(node, is_async || is_generator) {
            Some(t) => cat(&[".funcExit<", t, ">("]),
            None => ".funcExit(".to_string(),
        };

        let mut forms = Vec::with_capacity(3);
        if expression_body {
            let (s, e) = (body.start_byte(), body.end_byte());
            let full = |entry: &str| {
                vec![
                    Edit {
                        offset: s,
                        text: mark(&[
                            "{ const ",
                            &span,
                            " = ",
                            entry,
                            "; try { return ",
                            BINDING,
                            &exit_call,
                            &span,
                            ", ",
                        ]),
                    },
                    Edit { offset: e, text: mark(&["); } ", &catch, " }"]) },
                ]
            };
            forms.push(Form { id: "js.arrow.full", summary: "arguments, result and errors", edits: full(&entry) });
            forms.push(Form {
                id: "js.arrow.no_results",
                summary: "arguments and errors, no result",
                edits: vec![
                    Edit { offset: s, text: mark(&["{ const ", &span, " = ", &entry, "; try { return "]) },
                    Edit { offset: e, text: mark(&["; } ", &catch, " ", &finally, " }"]) },
                ],
            });
            if !params.is_empty() {
                forms.push(Form {
                    id: "js.arrow.bare",
                    summary: "result and errors, no arguments",
                    edits: full(&bare_entry),
                });
            }
        } else {
            let Some(close) = body.child(body.child_count().saturating_sub(1)).filter(|c| c.kind() == "}") else {
                return;
            };
            let (open_at, semi) = self.body_open(body);
            let has_directives = open_at != body.child(0).map_or(0, |b| b.end_byte());
            features.insert("directives".into(), yes(has_directives));
            let open =
                |entry: &str| Edit { offset: open_at, text: mark(&[semi, " const ", &span, " = ", entry, "; try {"]) };
            let close_edit = Edit { offset: close.start_byte(), text: mark(&["} ", &catch, " ", &finally]) };
            if is_generator {
                forms.push(Form {
                    id: "js.gen.full",
                    summary: "arguments and errors; exit on completion (yields and return values are not results)",
                    edits: vec![open(&entry), close_edit.clone()],
                });
                if !params.is_empty() {
                    forms.push(Form {
                        id: "js.gen.bare",
                        summary: "entry and exit only",
                        edits: vec![open(&bare_entry), close_edit],
                    });
                }
            } else {
                let mut edits = Vec::with_capacity(2 + 2 * frame.returns.len());
                edits.push(open(&entry));
                let exit = cat(&[BINDING, &exit_call, &span, ", "]);
                for &(s, e, seq) in &frame.returns {
                    let (l, r) = if seq { ("(", "))") } else { ("", ")") };
                    edits.push(Edit { offset: s, text: mark(&[&exit, l]) });
                    edits.push(Edit { offset: e, text: mark(&[r]) });
                }
                edits.push(close_edit.clone());
                features.insert("returns".into(), if frame.returns.is_empty() { "none" } else { "values" }.into());
                forms.push(Form { id: "js.func.full", summary: "arguments, results and errors", edits });
                forms.push(Form {
                    id: "js.func.no_results",
                    summary: "arguments and errors, no results",
                    edits: vec![open(&entry), close_edit.clone()],
                });
                if !params.is_empty() {
                    forms.push(Form {
                        id: "js.func.bare",
                        summary: "entry and exit only",
                        edits: vec![open(&bare_entry), close_edit],
                    });
                }
            }
        }
        self.out.push(Construct {
            kind: ConstructKind::Function,
            function: frame.name,
            line,
            start: node.start_byte(),
            end: node.end_byte(),
            features,
            forms,
        });
    }

    /// The text of a TypeScript function's declared return type, when its `return` expressions
    /// must have exactly that type: not for async functions and generators (their `return` takes
    /// what the Promise or Generator wraps), type predicates and assertion signatures, nor a type
    /// whose text could not sit inside the markers.
    fn declared_return_type(&self, node: Node<'a>, async_or_generator: bool) -> Option<&'a str> {
        if !self.t.ts || async_or_generator {
            return None;
        }
        let annotation = field(node, self.t.f.return_type).filter(|a| a.kind() == "type_annotation")?;
        let ty = annotation.named_child(0)?;
        let text = self.text(ty);
        (!text.contains("*/") && !text.contains('\n') && !text.contains("//")).then_some(text)
    }

    /// Where a function body's entry goes: after its `{`, or after its directive prologue (with
    /// the `;` a directive written without one needs before another statement on its line).
    fn body_open(&self, body: Node<'a>) -> (usize, &'static str) {
        let brace = body.child(0).map_or(body.start_byte(), |b| b.end_byte());
        let mut c = body.walk();
        let last =
            body.named_children(&mut c).filter(|n| n.kind() != "comment").take_while(|s| is_directive(*s)).last();
        match last {
            None => (brace, ""),
            Some(d) => after_directive(d),
        }
    }

    /// Names bound by a parameter or pattern.
    fn bound_names(&self, p: Node<'_>, out: &mut Vec<String>) {
        match p.kind() {
            "identifier" => out.push(self.text(p).to_string()),
            "required_parameter" | "optional_parameter" => {
                if let Some(pat) = field(p, self.t.f.pattern) {
                    self.bound_names(pat, out);
                }
            }
            "shorthand_property_identifier_pattern" => out.push(self.text(p).to_string()),
            "assignment_pattern" | "object_assignment_pattern" => {
                if let Some(l) = field(p, self.t.f.left) {
                    self.bound_names(l, out);
                }
            }
            "pair_pattern" => {
                if let Some(v) = field(p, self.t.f.value) {
                    self.bound_names(v, out);
                }
            }
            "rest_pattern" | "object_pattern" | "array_pattern" => {
                let mut c = p.walk();
                for k in p.named_children(&mut c) {
                    self.bound_names(k, out);
                }
            }
            _ => {}
        }
    }

    fn loop_(&mut self, node: Node<'a>) {
        let Some(func) = self.function_frame().map(|f| f.name.clone()) else { return };
        let Some(body) = field(node, self.t.f.body) else { return };
        let line = node.start_position().row + 1;
        let depth = self
            .ancestors
            .iter()
            .filter(|a| matches!(a.kind(), "for_statement" | "for_in_statement" | "while_statement" | "do_statement"))
            .count();
        let shape = match node.kind() {
            "for_statement" => "for",
            "for_in_statement" => {
                if has_token(node, "await") {
                    "for_await"
                } else if field(node, self.t.f.operator).is_some_and(|o| o.kind() == "of") {
                    "for_of"
                } else {
                    "for_in"
                }
            }
            "while_statement" => "while",
            _ => "do_while",
        };
        let mut features = BTreeMap::new();
        features.insert("loop".to_string(), shape.to_string());
        features.insert("module".into(), self.module.into());
        let call = cat(&[BINDING, ".loopIter(", &self.site(&func, line), ");"]);
        // A body without braces that ends where a `return` of this function ends (`for (…) if (x)
        // return x`, no `;`): the return's `)` and the loop's `}` meet there, and the `)` must
        // come first. This loop's construct then goes after the function's, which the pipeline
        // applies later at one offset. Where the function's own closing brace follows at once
        // (`return x}`), its `} catch …` must come after the loop's `}` as well, which no order
        // of the two constructs gives: such a loop is left alone.
        let mut after_function = false;
        if body.kind() != "statement_block" {
            let end = body.end_byte();
            let ends_a_return = self.function_frame().is_some_and(|f| f.returns.iter().any(|r| r.1 == end));
            if ends_a_return {
                let function = self.ancestors.iter().rev().copied().find(|a| self.hot(*a) == Hot::Function);
                let closes_at = function
                    .and_then(|f| field(f, self.t.f.body))
                    .and_then(|b| b.child(b.child_count().saturating_sub(1)))
                    .map(|c| c.start_byte());
                if closes_at == Some(end) {
                    return;
                }
                after_function = true;
            }
        }
        let form = if body.kind() == "statement_block" {
            features.insert("body".into(), "block".into());
            let Some(open) = body.child(0).filter(|b| b.kind() == "{") else { return };
            Form {
                id: "js.loop.iter",
                summary: "iteration count",
                edits: vec![Edit { offset: open.end_byte(), text: mark(&[" ", &call]) }],
            }
        } else {
            features.insert("body".into(), "statement".into());
            if matches!(body.kind(), "function_declaration" | "class_declaration" | "lexical_declaration") {
                return;
            }
            Form {
                id: "js.loop.iter_braced",
                summary: "iteration count, braces added around the body",
                edits: vec![
                    Edit { offset: body.start_byte(), text: mark(&["{ ", &call, " "]) },
                    // One more space per enclosing loop: nested loops without braces close at
                    // the same offset, and identical edits at one offset are applied once.
                    Edit { offset: body.end_byte(), text: mark(&[&" ".repeat(depth + 1), "}"]) },
                ],
            }
        };
        let construct = Construct {
            kind: ConstructKind::Loop,
            function: func,
            line,
            start: node.start_byte(),
            end: node.end_byte(),
            features,
            forms: vec![form],
        };
        match self.function_frame() {
            Some(f) if after_function => f.deferred.push(construct),
            _ => self.out.push(construct),
        }
    }

    fn declaration(&mut self, node: Node<'a>) {
        if !self.statement_level() {
            return;
        }
        let mut names = Vec::new();
        let mut c = node.walk();
        for d in node.named_children(&mut c) {
            if d.kind() != "variable_declarator" || field(d, self.t.f.value).is_none() {
                continue;
            }
            if let Some(n) = field(d, self.t.f.name).filter(|n| n.kind() == "identifier") {
                names.push(self.text(n).to_string());
            }
        }
        let keyword = node.child(0).map(|k| self.text(k)).unwrap_or("var");
        self.variable(node, names, keyword);
    }

    fn assignment(&mut self, node: Node<'a>) {
        if !self.statement_level() {
            return;
        }
        let Some(mut e) = node.named_child(0) else { return };
        let mut names = Vec::new();
        let mut op = "";
        while matches!(e.kind(), "assignment_expression" | "augmented_assignment_expression") {
            let Some(left) = field(e, self.t.f.left).filter(|l| l.kind() == "identifier") else { break };
            if op.is_empty() {
                op = if e.kind() == "assignment_expression" { "assign" } else { "augmented" };
            }
            names.push(self.text(left).to_string());
            match field(e, self.t.f.right) {
                Some(r) => e = r,
                None => break,
            }
        }
        self.variable(node, names, op);
    }

    fn variable(&mut self, node: Node<'a>, mut names: Vec<String>, statement: &str) {
        names.dedup();
        if names.is_empty() {
            return;
        }
        let Some(func) = self.function_frame().map(|f| f.name.clone()) else { return };
        let line = node.start_position().row + 1;
        let site = self.site(&func, line);
        let mut text = String::with_capacity(names.len() * (site.len() + 40) + 16);
        text.push_str(crate::rewrite::OPEN);
        if !self.text(node).ends_with(';') {
            text.push(';');
        }
        for n in &names {
            for part in [" ", BINDING, ".varAssign(", &site, ", ", &lit(n), ", ", n, ");"] {
                text.push_str(part);
            }
        }
        text.push_str(crate::rewrite::CLOSE);
        let mut features = BTreeMap::new();
        features.insert("statement".to_string(), statement.to_string());
        features.insert("module".into(), self.module.into());
        self.out.push(Construct {
            kind: ConstructKind::Variable,
            function: func,
            line,
            start: node.start_byte(),
            end: node.end_byte(),
            features,
            forms: vec![Form {
                id: "js.var.value",
                summary: "assigned value",
                edits: vec![Edit { offset: node.end_byte(), text }],
            }],
        });
    }
}

/// An object or class key as a name: quotes dropped, whitespace squeezed.
fn key_name(k: &str) -> String {
    let t = k.trim();
    let quoted = t
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| t.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
    match quoted {
        Some(q) => q.to_string(),
        None => compact(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::{apply, strip_marked};

    fn parse(src: &str) -> Tree {
        let mut p = tree_sitter::Parser::new();
        p.set_language(&JavaScript.grammar()).unwrap();
        p.parse(src, None).unwrap()
    }

    /// Every construct with its first form applied, plus the file edit.
    fn instrument(rel: &str, src: &str) -> (Vec<Construct>, String) {
        let file = SourceFile { rel: rel.into(), text: src.into(), path: None };
        let tree = parse(src);
        let cs = JavaScript.discover(&file, &tree);
        let fe = JavaScript.file_edits(&file, &tree);
        let mut edits: Vec<&Edit> = fe.iter().collect();
        for c in &cs {
            for e in &c.forms[0].edits {
                // As the pipeline does: an identical edit at one offset is applied once.
                if !edits.iter().any(|x| x.offset == e.offset && x.text == e.text) {
                    edits.push(e);
                }
            }
        }
        let out = apply(src, &edits);
        (cs, out)
    }

    #[test]
    fn lines_are_kept_and_strip_restores() {
        let src = "#!/usr/bin/env node\n'use strict'\nfunction f(a, {b, c = 1}, ...d) {\n  const x = a + b\n  for (const i of d) x += i\n  return x, b\n}\nconst g = (y) => ({ y })\nclass A extends B { constructor(p) { super(p); this.p = p } get v() { return this.p } }\n";
        let (cs, out) = instrument("x/a.js", src);
        assert_eq!(out.lines().count(), src.lines().count());
        assert_eq!(strip_marked(&out), src);
        assert!(out.starts_with("#!/usr/bin/env node\n'use strict'/*tf{*/; const __teleforgeTel = (() => { try { return require(\"../_teleforge_tel.cjs\");"));
        let names: Vec<&str> = cs.iter().map(|c| c.function.as_str()).collect();
        assert!(
            names.contains(&"f")
                && names.contains(&"g")
                && names.contains(&"A.constructor")
                && names.contains(&"A.get v"),
            "{names:?}"
        );
        let ctor = cs.iter().find(|c| c.function == "A.constructor").unwrap();
        assert_eq!(ctor.features["derived_constructor"], "yes");
        let f = cs.iter().find(|c| c.function == "f" && c.kind == ConstructKind::Function).unwrap();
        assert!(f.forms[0].code().contains("{ a, b, c, d }"));
        assert!(
            out.contains("return /*tf{*/__teleforgeTel.funcExit(__teleforgeS0, (/*}tf*/x, b/*tf{*/))/*}tf*/"),
            "{out}"
        );
        // The arrow's expression body becomes a block on its own line.
        assert!(out.contains("const g = (y) => /*tf{*/{ const __teleforgeS0 = __teleforgeTel.funcEntry(\"g\""));
    }

    #[test]
    fn nested_closers_at_one_offset_come_inner_first() {
        let src = "function f() {\n  const h = () => 1\n  return () => 2\n}\n";
        let (_, out) = instrument("a.js", src);
        assert_eq!(strip_marked(&out), src);
        // The arrow's block closes before the declaration's record and the return's `)`.
        let l2 = out.lines().nth(1).unwrap();
        assert!(l2.find("} }").unwrap() < l2.find("varAssign").unwrap(), "{l2}");
        let l3 = out.lines().nth(2).unwrap();
        assert!(l3.trim_end().ends_with("} }/*}tf*//*tf{*/)/*}tf*/"), "{l3}");
    }

    #[test]
    fn nested_arrows_and_unbraced_loops_closing_together_stay_distinct() {
        let src = "const curry = (a) => (b) => (c) => a + b + c\nfunction f(xs) {\n  let n = 0\n  for (const x of xs) for (const y of xs) if (x) while (n < y) n++\n  return n\n}\nconsole.log(curry(1)(2)(3), f([1, 2]))\n";
        let (_, out) = instrument("a.js", src);
        assert_eq!(strip_marked(&out), src);
        assert_eq!(out.lines().count(), src.lines().count());
        assert_eq!(out.matches("catch (__teleforgeE)").count(), 4, "{out}");
        let l4 = out.lines().nth(3).unwrap();
        assert!(l4.ends_with("n++/*tf{*/   }/*}tf*//*tf{*/  }/*}tf*//*tf{*/ }/*}tf*/"), "{l4}");
    }

    #[test]
    fn module_systems() {
        let (cs, out) = instrument("m.js", "import x from 'y';\nexport function f() { return x }\n");
        assert_eq!(cs[0].features["module"], ESM);
        assert!(out.starts_with("/*tf{*/import __teleforgeTel from \"./_teleforge_tel.cjs\"; /*}tf*/import x"));
        let (cs, _) = instrument("m.cjs", "export function f() { return 1 }\n");
        assert_eq!(cs[0].features["module"], CJS);
        assert!(JavaScript::esm_syntax("x\nexport default 1\n"));
        assert!(JavaScript::esm_syntax("import {a} from './a.js'\n"));
        assert!(!JavaScript::esm_syntax("const a = import('./a.js')\n // import x from y\n"));
        // Names that start with `import`/`export` are not declarations (discovery, which reads
        // the tree, says CommonJS; the validator, which reads the text, must agree).
        assert!(!JavaScript::esm_syntax("module.exports = {\n  imports,\n  exports,\n  importsFrom: 1,\n}\n"));
        assert!(!JavaScript::esm_syntax("const x = {\n  import: 1,\n  exports: 2\n}\n"));
        assert!(JavaScript::esm_syntax("import x, { y } from './a.js'\n"));
        assert!(JavaScript::esm_syntax("import * as a from './a.js'\nimport './b.js'\n"));
        // Declarations inside a template literal or a comment are text.
        let cjs =
            "const doc = `\nimport x from 'y'\nexport default 1\n`\n/*\nexport const a = 1\n*/\nmodule.exports = doc\n";
        assert!(!JavaScript::esm_syntax(cjs));
        assert!(JavaScript::esm_lines(cjs), "the line scan alone would say ES module");
        let (cs, out) = instrument("m.js", &format!("{cjs}function f() {{ return doc }}\n"));
        assert_eq!(cs[0].features["module"], CJS);
        assert!(out.contains("require("));
    }

    #[test]
    fn package_json_type_is_found_upwards() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("package.json"), r#"{"type":"module"}"#).unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/package.json"), r#"{"name":"x"}"#).unwrap();
        let mut cache = HashMap::new();
        assert_eq!(JavaScript::package_type(dir.path(), &mut cache), Some(ESM));
        // The nearest package.json has no "type": node stops there (CommonJS, or syntax).
        assert_eq!(JavaScript::package_type(&dir.path().join("a/b"), &mut cache), None);
        assert_eq!(
            JavaScript::module_system(&dir.path().join("a/b/x.js"), || "export const a = 1".into(), &mut cache),
            ESM
        );
        assert_eq!(JavaScript::module_system(&dir.path().join("z.js"), String::new, &mut cache), ESM);
    }

    #[test]
    fn generators_and_skips() {
        let src = "function* g(n) { for (let i = 0; i < n; i++) yield i; return 5 }\nfunction h() { let a; if (a) var b = 1; for (let i = 0;;) break }\nclass C { x = 1; static { for (;;) break } }\n";
        let (cs, out) = instrument("a.js", src);
        assert_eq!(strip_marked(&out), src);
        let g = cs.iter().find(|c| c.function == "g" && c.kind == ConstructKind::Function).unwrap();
        assert_eq!(g.forms[0].id, "js.gen.full");
        assert!(!out.contains("funcExit(__teleforgeS0, 5"));
        // `let a;` has no value, `var b` is not a block statement; the static block is left alone.
        assert_eq!(cs.iter().filter(|c| c.kind == ConstructKind::Variable).count(), 0);
        assert_eq!(cs.iter().filter(|c| c.kind == ConstructKind::Loop).count(), 2);
        assert!(out.contains("for (let i = 0; i < n; i++) /*tf{*/{ __teleforgeTel.loopIter("));
    }

    #[test]
    fn model_snippets_get_statement_slots() {
        let src = "function f(a) {\n  'use strict'\n  let b = a\n  for (;;) { break }\n  while (b) b--\n  return b\n}\nconst g = (x) => x\n";
        let (cs, _) = instrument("a.js", src);
        let slot = |k: ConstructKind, line: usize| {
            cs.iter().find(|c| c.kind == k && c.line == line).and_then(|c| JavaScript.slot(c))
        };
        let f = slot(ConstructKind::Function, 1).unwrap();
        assert_eq!(f.offset, src.find("'use strict'").unwrap() + "'use strict'".len());
        assert!(f.before.ends_with("; ") && f.hint.contains("__teleforgeTel"), "{f:?}");
        let v = slot(ConstructKind::Variable, 3).unwrap();
        assert_eq!(v.edit("x()").text, "/*tf{*/; x();/*}tf*/");
        assert!(slot(ConstructKind::Loop, 4).is_some());
        assert!(slot(ConstructKind::Loop, 5).is_none(), "a loop without braces has no statement position");
        assert!(slot(ConstructKind::Function, 8).is_none(), "an expression body has no statement position");
    }

    #[test]
    fn minified_and_generated_files_are_skipped() {
        assert!(JavaScript.skip_file(&"x".repeat(1200)).is_some());
        assert!(JavaScript.skip_file("// @generated\nconst a = 1;\n").is_some());
        assert!(JavaScript.skip_file("const a = 1;\n").is_none());
        assert!(JavaScript.is_test_file("src/__tests__/a.js") && JavaScript.is_test_file("a.test.js"));
        let file = SourceFile { rel: "vendor/x.min.js".into(), text: "function f(){}".into(), path: None };
        assert!(JavaScript.discover(&file, &parse(&file.text)).is_empty());
    }

    #[test]
    fn names_cannot_close_the_marker_comment() {
        let src = "const o = { '*/': function () { return 1 } }\n";
        let (_, out) = instrument("a.js", src);
        assert!(!out.contains("\"*/\""));
        assert_eq!(strip_marked(&out), src);
    }

    #[test]
    fn directives_with_comments_stay_first_and_the_comment_swallows_nothing() {
        let src =
            "\"use strict\" // why\n'use client' /* c */;\nfunction f(a) { 'use strict' // inner\n  return a\n}\n";
        let (_, out) = instrument("a.js", src);
        assert_eq!(strip_marked(&out), src);
        assert_eq!(out.lines().count(), src.lines().count());
        assert!(
            out.starts_with("\"use strict\" // why\n'use client' /* c */;/*tf{*/ const __teleforgeTel = "),
            "{out}"
        );
        // The function's entry follows its directive, before the comment that ends the line.
        assert!(out.contains("{ 'use strict'/*tf{*/; const __teleforgeS0 = __teleforgeTel.funcEntry(\"f\""), "{out}");
        assert!(out.lines().nth(2).unwrap().ends_with("// inner"), "{out}");
    }

    #[test]
    fn the_import_follows_hashbangs_byte_order_marks_and_directives() {
        let cases = [
            ("#!/usr/bin/env node\nfunction f() { return 1 }\n", "#!/usr/bin/env node\n/*tf{*/const __teleforgeTel"),
            ("\u{feff}'use strict'\nfunction f() { return 1 }\n", "\u{feff}'use strict'/*tf{*/; const __teleforgeTel"),
            ("\u{feff}function f() { return 1 }", "\u{feff}/*tf{*/const __teleforgeTel"),
            ("'use strict'\r\n;function f() { return 1 }\r\n", "'use strict'\r\n;/*tf{*/ const __teleforgeTel"),
            ("/* header */ 'use strict'; function f() { return 1 }", "/* header */ 'use strict';/*tf{*/ const"),
            // Not a directive: a statement that starts with a string.
            ("'use strict'\n+function () { return 1 }()\n", "/*tf{*/const __teleforgeTel = "),
        ];
        for (src, start) in cases {
            let (cs, out) = instrument("a.js", src);
            assert!(!cs.is_empty(), "{src:?}");
            assert!(out.starts_with(start), "{src:?} gave {out:?}");
            assert_eq!(strip_marked(&out), src);
            assert_eq!(out.lines().count(), src.lines().count());
        }
    }

    #[test]
    fn a_return_ending_a_loop_body_without_braces_closes_before_the_loop() {
        let src = "function f(xs) { for (const x of xs) if (x) return x\n  return null }\nfunction g(a) { while (a) return () => a\n  return 0 }\nfunction h(xs) { for (;;) for (const x of xs) return x // c\n}\nfunction k(xs) { for (const x of xs) return x}\n";
        let (cs, out) = instrument("a.js", src);
        assert_eq!(strip_marked(&out), src);
        assert_eq!(out.lines().count(), src.lines().count());
        assert!(!parse(&out).root_node().has_error(), "{out}");
        let l1 = out.lines().next().unwrap();
        assert!(
            l1.ends_with(
                "if (x) return /*tf{*/__teleforgeTel.funcExit(__teleforgeS0, /*}tf*/x/*tf{*/)/*}tf*//*tf{*/ }/*}tf*/"
            ),
            "{l1}"
        );
        // The inner arrow closes first, then the return, then the loop.
        let l3 = out.lines().nth(2).unwrap();
        assert!(l3.ends_with("} }/*}tf*//*tf{*/)/*}tf*//*tf{*/ }/*}tf*/"), "{l3}");
        // Nested loops close inner first, after the return; the comment stays last.
        let l5 = out.lines().nth(4).unwrap();
        assert!(l5.ends_with("/*}tf*/x/*tf{*/)/*}tf*//*tf{*/  }/*}tf*//*tf{*/ }/*}tf*/ // c"), "{l5}");
        // `return x}`: the function's `} catch` would have to sit between the return's `)` and
        // the loop's `}`; that loop is left alone, the function is not.
        let loops: Vec<usize> = cs.iter().filter(|c| c.kind == ConstructKind::Loop).map(|c| c.line).collect();
        assert_eq!(loops, [1, 3, 5, 5]);
        assert!(cs.iter().any(|c| c.kind == ConstructKind::Function && c.function == "k"));
    }
}
