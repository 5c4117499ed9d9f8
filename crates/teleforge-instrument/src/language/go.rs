//! Go: functions, methods and closures; `for` loops; assignments at statement level.
//!
//! Every insertion stays on an existing line (after a block's `{`, after a statement, or inside a
//! signature), so every line keeps its number: panics, `runtime.Caller` and logs still point at
//! the user's source without `//line` directives.
//!
//! Left alone: files with `import "C"` (cgo preambles), generated files, functions without a body
//! (assembly), and functions marked `//go:nosplit` (their fixed stack budget cannot take the
//! calls) or with other runtime-internal directives.
//!
//! Values whose type could hold a lock (named or struct types, arrays, type parameters) are never
//! copied into the telemetry call, so `go vet`'s copylocks check stays quiet: their type name is
//! recorded instead.

use std::collections::{BTreeMap, BTreeSet};

use tree_sitter::{Node, Tree, TreeCursor};

use super::shared::{self, TestNames};
use super::{quote, LanguageSupport, RuntimeFile, SourceFile, GENERATED_MARK};
use crate::construct::{Construct, ConstructKind, Edit, Form, Slot};
use crate::rewrite::marked;

/// The Go runtime, written into every instrumented package with its package clause replaced.
const RUNTIME: &str = include_str!("../../runtime/go/teleforge_tel.go");
/// The runtime's file name inside each package.
pub const RUNTIME_FILE: &str = "teleforge_tel.go";
/// The runtime's OTLP/HTTP exporter, written beside it in each package. It is compiled only with
/// `-tags teleforge_otlp`: it needs `net/http`, which would otherwise be linked into every
/// instrumented program (docs/TELEMETRY.md, "Direct OTLP export from the runtimes").
const RUNTIME_OTLP: &str = include_str!("../../runtime/go/teleforge_tel_otlp.go");
pub const RUNTIME_OTLP_FILE: &str = "teleforge_tel_otlp.go";

/// Function directives that mean "do not add calls here".
const UNTOUCHABLE_DIRECTIVES: &[&str] =
    &["//go:nosplit", "//go:systemstack", "//go:nowritebarrier", "//go:nowritebarrierrec", "//go:linkname"];

/// Go.
pub struct Go;

impl LanguageSupport for Go {
    fn name(&self) -> &'static str {
        "go"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["go"]
    }

    fn grammar(&self) -> tree_sitter::Language {
        tree_sitter_go::LANGUAGE.into()
    }

    fn test_names(&self) -> TestNames {
        TestNames { suffixes: &["_test.go"], ..TestNames::default() }
    }

    fn skip_file(&self, text: &str) -> Option<&'static str> {
        // Go's own convention (what `go/ast.IsGenerated` reads): a line `// Code generated …
        // DO NOT EDIT.` anywhere before the package clause; Go defines it exactly, so a comment
        // that only says "DO NOT EDIT" does not make a Go file generated.
        let header = text.split("\npackage ").next().unwrap_or("");
        if header.lines().any(|l| l.starts_with("// Code generated ") && l.trim_end().ends_with("DO NOT EDIT.")) {
            return Some("generated");
        }
        if uses_cgo(text) {
            return Some("uses cgo");
        }
        None
    }

    fn discover(&self, file: &SourceFile, tree: &Tree) -> Vec<Construct> {
        let mut walker = Walker { src: &file.text, rel: &file.rel, package: String::new(), out: Vec::new() };
        walker.package = package_name(tree.root_node(), &file.text).unwrap_or_default();
        walker.walk(&mut tree.walk(), None, &mut 0, false);
        walker.out
    }

    fn runtime_files(&self, instrumented: &[&SourceFile]) -> Vec<RuntimeFile> {
        // One runtime file per package folder, in that package, and its OTLP exporter beside it.
        let mut files = shared::runtime_per_folder(instrumented, RUNTIME_FILE, |f| {
            package_of_text(&f.text).map(|pkg| runtime_for_package(&pkg))
        });
        files.extend(shared::runtime_per_folder(instrumented, RUNTIME_OTLP_FILE, |f| {
            package_of_text(&f.text).map(|pkg| in_package(RUNTIME_OTLP, &pkg))
        }));
        files
    }

    fn is_runtime_file(&self, rel: &str) -> bool {
        shared::is_named(rel, &[RUNTIME_FILE, RUNTIME_OTLP_FILE])
    }

    fn slot(&self, c: &Construct) -> Option<Slot> {
        // The entry edit is the last edit of every form: after the body's `{` for functions and
        // loops, after the statement for assignments.
        let offset = c.forms.first()?.edits.last()?.offset;
        Some(match c.kind {
            ConstructKind::Function => shared::marked_slot(
                offset,
                " ",
                ";",
                "one Go statement, run first in the function body (for example a defer)",
            ),
            ConstructKind::Loop => {
                shared::marked_slot(offset, " ", ";", "one Go statement, run first in every iteration of the loop body")
            }
            ConstructKind::Variable => {
                shared::marked_slot(offset, "; ", "", "one Go statement, run right after the assignment")
            }
        })
    }

    fn import_edit(&self, file: &SourceFile, path: &str) -> Option<Edit> {
        // On the package clause's line, so no line moves: `package main; import "x"`.
        let mut parser = tree_sitter::Parser::new();
        parser.set_language(&self.grammar()).ok()?;
        let tree = parser.parse(&file.text, None)?;
        let mut c = tree.root_node().walk();
        let clause = tree.root_node().children(&mut c).find(|n| n.kind() == "package_clause")?;
        Some(Edit { offset: clause.end_byte(), text: marked(&format!("; import {}", quote(path))) })
    }
}

/// The runtime source with its package clause set to `package`.
pub fn runtime_for_package(package: &str) -> String {
    in_package(RUNTIME, package)
}

/// A runtime file's source with its package clause set to `package`.
fn in_package(source: &str, package: &str) -> String {
    debug_assert!(source.starts_with(&format!("// {GENERATED_MARK}")));
    source.replacen("package teleforgetel", &format!("package {package}"), 1)
}

fn package_name(root: Node<'_>, src: &str) -> Option<String> {
    let mut c = root.walk();
    let clause = root.children(&mut c).find(|n| n.kind() == "package_clause")?;
    let mut c2 = clause.walk();
    let id = clause.children(&mut c2).find(|n| n.kind() == "package_identifier")?;
    Some(src[id.byte_range()].to_string())
}

/// The package clause's name: the first token of a Go file after a byte order mark, spaces and
/// comments (a `package` word inside a comment, or a `;` after the name, is not part of it).
fn package_of_text(text: &str) -> Option<String> {
    let mut rest = text.strip_prefix('\u{feff}').unwrap_or(text);
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("//") {
            rest = r.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/")?.1;
        } else {
            break;
        }
    }
    let name = rest.strip_prefix("package")?.trim_start_matches([' ', '\t']);
    let end = name.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(name.len());
    (end > 0).then(|| name[..end].to_string())
}

/// Whether the file imports `"C"` (cgo), alone (`import "C"`) or in an import group.
fn uses_cgo(text: &str) -> bool {
    static CGO: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r#"\bimport\s*(?:"C"|\([^)]*"C")"#).unwrap());
    text.contains("\"C\"") && CGO.is_match(text)
}

struct Walker<'a> {
    src: &'a str,
    rel: &'a str,
    package: String,
    out: Vec<Construct>,
}

/// A parameter or result as the snippet can pass it.
struct Value {
    name: Option<String>,
    /// The expression passed to the runtime: the name, or a quoted type name for values that must
    /// not be copied.
    expr: String,
    /// Whether the value itself may be passed (see [`copy_safe`]).
    copyable: bool,
    type_node_start: usize,
}

impl<'a> Walker<'a> {
    fn text(&self, n: Node<'_>) -> &'a str {
        &self.src[n.byte_range()]
    }

    /// Walks the node under `cursor` (one cursor for the whole file: discovery stays near parse
    /// speed); `func` is the enclosing function's qualified name, `closures` its counter, and
    /// `in_list` whether the node is a statement of a block (asking a node for its parent would
    /// walk down from the root again).
    fn walk(&mut self, cursor: &mut TreeCursor<'_>, func: Option<&str>, closures: &mut usize, in_list: bool) {
        let node = cursor.node();
        match node.kind() {
            "function_declaration" | "method_declaration" => {
                if self.untouchable(node) {
                    return;
                }
                let name = self.declared_name(node);
                self.function(node, &name, false);
                let mut inner = 0;
                self.walk_children(cursor, Some(&name), &mut inner);
                return;
            }
            "func_literal" => {
                *closures += 1;
                let outer = func.map(str::to_string).unwrap_or_else(|| format!("{}.glob", self.package));
                let name = format!("{outer}.func{closures}");
                self.function(node, &name, true);
                let mut inner = 0;
                self.walk_children(cursor, Some(&name), &mut inner);
                return;
            }
            "for_statement" => {
                if let Some(f) = func {
                    self.loop_(node, f);
                }
            }
            "short_var_declaration" | "assignment_statement" | "var_declaration" => {
                if let (Some(f), true) = (func, in_list) {
                    self.assignment(node, f);
                }
            }
            _ => {}
        }
        self.walk_children(cursor, func, closures);
    }

    fn walk_children(&mut self, cursor: &mut TreeCursor<'_>, func: Option<&str>, closures: &mut usize) {
        let in_list = cursor.node().kind() == "statement_list";
        if cursor.goto_first_child() {
            loop {
                self.walk(cursor, func, closures, in_list);
                if !cursor.goto_next_sibling() {
                    break;
                }
            }
            cursor.goto_parent();
        }
    }

    /// Directives sit in the comment lines right above the declaration.
    fn untouchable(&self, node: Node<'_>) -> bool {
        let mut prev = node.prev_sibling();
        while let Some(p) = prev {
            if p.kind() != "comment" {
                break;
            }
            let t = self.text(p);
            if UNTOUCHABLE_DIRECTIVES.iter().any(|d| t.starts_with(d)) {
                return true;
            }
            prev = p.prev_sibling();
        }
        node.child_by_field_name("body").is_none()
    }

    /// `pkg.F`, `pkg.T.M` or `pkg.(*T).M`, as Go's runtime names them.
    fn declared_name(&self, node: Node<'_>) -> String {
        let name = node.child_by_field_name("name").map(|n| self.text(n)).unwrap_or("?");
        let Some(recv) = node.child_by_field_name("receiver") else {
            return format!("{}.{name}", self.package);
        };
        let mut c = recv.walk();
        let ty = recv
            .children(&mut c)
            .find(|n| n.kind() == "parameter_declaration")
            .and_then(|p| p.child_by_field_name("type"));
        let Some(ty) = ty else { return format!("{}.{name}", self.package) };
        let (pointer, base) = if ty.kind() == "pointer_type" {
            (true, ty.named_child(0).map(|n| self.text(n)).unwrap_or("?"))
        } else {
            (false, self.text(ty))
        };
        let base = base.split('[').next().unwrap_or(base);
        if pointer {
            format!("{}.(*{base}).{name}", self.package)
        } else {
            format!("{}.{base}.{name}", self.package)
        }
    }

    /// Named values of a parameter list (`a, b int` gives two).
    fn values(&self, list: Node<'_>) -> Vec<Value> {
        let mut out = Vec::new();
        let mut c = list.walk();
        for decl in list.children(&mut c) {
            let kind = decl.kind();
            if kind != "parameter_declaration" && kind != "variadic_parameter_declaration" {
                continue;
            }
            let Some(ty) = decl.child_by_field_name("type") else { continue };
            let copyable = kind == "variadic_parameter_declaration" || copy_safe(ty, self.src);
            let mut names = Vec::new();
            let mut c2 = decl.walk();
            for n in decl.children_by_field_name("name", &mut c2) {
                names.push(self.text(n).to_string());
            }
            let type_text = self.text(ty).split_whitespace().collect::<Vec<_>>().join(" ");
            let type_text =
                if kind == "variadic_parameter_declaration" { format!("...{type_text}") } else { type_text };
            if names.is_empty() {
                out.push(Value {
                    name: None,
                    expr: quote(&format!("<{type_text}>")),
                    copyable,
                    type_node_start: ty.start_byte(),
                });
            }
            for name in names {
                let expr = if name == "_" || !copyable { quote(&format!("<{type_text}>")) } else { name.clone() };
                out.push(Value { name: Some(name), expr, copyable, type_node_start: ty.start_byte() });
            }
        }
        out
    }

    fn function(&mut self, node: Node<'_>, name: &str, closure: bool) {
        let Some(body) = node.child_by_field_name("body") else { return };
        let Some(open) = body.child(0).filter(|b| b.kind() == "{") else { return };
        let line = node.start_position().row + 1;
        let params = node.child_by_field_name("parameters").map(|p| self.values(p)).unwrap_or_default();
        let mut features = BTreeMap::new();
        features.insert("closure".to_string(), if closure { "yes" } else { "no" }.to_string());
        let receiver = match node.child_by_field_name("receiver") {
            None => "none",
            Some(r) if self.text(r).contains('*') => "pointer",
            Some(_) => "value",
        };
        features.insert("receiver".into(), receiver.into());
        features.insert(
            "generic".into(),
            if node.child_by_field_name("type_parameters").is_some() { "yes" } else { "no" }.into(),
        );
        features.insert(
            "variadic".into(),
            if node.child_by_field_name("parameters").is_some_and(|p| self.text(p).contains("...")) {
                "yes"
            } else {
                "no"
            }
            .into(),
        );

        let mut kv = String::new();
        for p in &params {
            if let Some(n) = &p.name {
                if n != "_" {
                    kv.push_str(&format!(", {}, {}", quote(n), p.expr));
                }
            }
        }
        let site = format!("{}, {}, {line}", quote(name), quote(self.rel));
        let entry = format!("Tel.FuncEntry({site}{kv})");
        let bare_entry = format!("Tel.FuncEntry({site})");
        let at = open.end_byte();

        // Results: read through their names in a deferred closure; unnamed ones get names.
        let mut result_edits = Vec::new();
        let mut result_exprs = Vec::new();
        let results_kind = match node.child_by_field_name("result") {
            None => "none",
            Some(r) if r.kind() == "parameter_list" => {
                let values = self.values(r);
                if values.iter().all(|v| v.name.is_none()) {
                    for (i, v) in values.iter().enumerate() {
                        let n = format!("teleforgeR{i}");
                        result_edits.push(Edit { offset: v.type_node_start, text: marked(&format!("{n} ")) });
                        result_exprs.push(if v.copyable { n } else { v.expr.clone() });
                    }
                    "unnamed"
                } else {
                    result_exprs.extend(values.iter().map(|v| v.expr.clone()));
                    if values.iter().any(|v| v.name.as_deref() == Some("_")) {
                        "blank"
                    } else {
                        "named"
                    }
                }
            }
            Some(r) => {
                let copyable = copy_safe(r, self.src);
                result_edits.push(Edit { offset: r.start_byte(), text: marked("(teleforgeR0 ") });
                result_edits.push(Edit { offset: r.end_byte(), text: marked(")") });
                let type_text = self.text(r).split_whitespace().collect::<Vec<_>>().join(" ");
                result_exprs.push(if copyable { "teleforgeR0".into() } else { quote(&format!("<{type_text}>")) });
                "unnamed"
            }
        };
        features.insert("results".into(), results_kind.into());

        let mut forms = Vec::new();
        if !result_exprs.is_empty() {
            let mut edits = if result_exprs.iter().all(|e| e.starts_with('"')) { Vec::new() } else { result_edits };
            let exit_args: String = result_exprs.iter().map(|e| format!(", {e}")).collect();
            edits.push(Edit {
                offset: at,
                text: marked(&format!(
                    " if teleforgeS := {entry}; teleforgeS != nil {{ defer func() {{ Tel.FuncExit(teleforgeS{exit_args}) }}() }};"
                )),
            });
            forms.push(Form { id: "go.func.results", summary: "arguments and results", edits });
        }
        // With telemetry off FuncEntry returns nil after one atomic load, and nothing is deferred:
        // the call costs that and one comparison (a `defer` of its own would be paid on every call).
        let guarded =
            |entry: &str| format!(" if teleforgeS := {entry}; teleforgeS != nil {{ defer Tel.FuncExit(teleforgeS) }};");
        forms.push(Form {
            id: "go.func.args",
            summary: "arguments, no results",
            edits: vec![Edit { offset: at, text: marked(&guarded(&entry)) }],
        });
        if !kv.is_empty() {
            forms.push(Form {
                id: "go.func.bare",
                summary: "entry and exit only",
                edits: vec![Edit { offset: at, text: marked(&guarded(&bare_entry)) }],
            });
        }
        self.out.push(Construct {
            kind: ConstructKind::Function,
            function: name.to_string(),
            line,
            start: node.start_byte(),
            end: node.end_byte(),
            features,
            forms,
        });
    }

    fn loop_(&mut self, node: Node<'_>, func: &str) {
        let Some(body) = node.child_by_field_name("body") else { return };
        let Some(open) = body.child(0).filter(|b| b.kind() == "{") else { return };
        let line = node.start_position().row + 1;
        let mut c = node.walk();
        let header = node.named_children(&mut c).find(|n| n.id() != body.id()).map(|n| n.kind());
        let shape = match header {
            Some("range_clause") => "range",
            Some("for_clause") => "three_clause",
            Some(_) => "condition",
            None => "infinite",
        };
        let mut features = BTreeMap::new();
        features.insert("loop".to_string(), shape.to_string());
        let call = format!(" Tel.LoopIter({}, {}, {line});", quote(func), quote(self.rel));
        self.out.push(Construct {
            kind: ConstructKind::Loop,
            function: func.to_string(),
            line,
            start: node.start_byte(),
            end: node.end_byte(),
            features,
            forms: vec![Form {
                id: "go.loop.iter",
                summary: "iteration count",
                edits: vec![Edit { offset: open.end_byte(), text: marked(&call) }],
            }],
        });
    }

    fn assignment(&mut self, node: Node<'_>, func: &str) {
        let mut names: Vec<String> = Vec::new();
        match node.kind() {
            "var_declaration" => {
                let mut c = node.walk();
                let specs: Vec<Node<'_>> = node
                    .children(&mut c)
                    .flat_map(|n| if n.kind() == "var_spec_list" { named_children(n) } else { vec![n] })
                    .filter(|n| n.kind() == "var_spec")
                    .collect();
                for spec in specs {
                    let mut c2 = spec.walk();
                    let type_ok = spec.child_by_field_name("type").is_none_or(|t| copy_safe(t, self.src));
                    if !type_ok {
                        continue;
                    }
                    for n in spec.children_by_field_name("name", &mut c2) {
                        names.push(self.text(n).to_string());
                    }
                }
            }
            _ => {
                let Some(left) = node.child_by_field_name("left") else { return };
                for n in named_children(left) {
                    if n.kind() != "identifier" {
                        return; // a.b = x, m[k] = v, *p = v: not a variable of this scope
                    }
                    names.push(self.text(n).to_string());
                }
            }
        }
        let names: Vec<String> = names.into_iter().filter(|n| n != "_").collect::<BTreeSet<_>>().into_iter().collect();
        if names.is_empty() {
            return;
        }
        let line = node.start_position().row + 1;
        let mut calls = String::new();
        for n in &names {
            calls.push_str(&format!(
                "; Tel.VarAssign({}, {}, {line}, {}, {n})",
                quote(func),
                quote(self.rel),
                quote(n)
            ));
        }
        let mut features = BTreeMap::new();
        features.insert("statement".to_string(), node.kind().to_string());
        self.out.push(Construct {
            kind: ConstructKind::Variable,
            function: func.to_string(),
            line,
            start: node.start_byte(),
            end: node.end_byte(),
            features,
            forms: vec![Form {
                id: "go.var.value",
                summary: "assigned value",
                edits: vec![Edit { offset: node.end_byte(), text: marked(&calls) }],
            }],
        });
    }
}

fn named_children(n: Node<'_>) -> Vec<Node<'_>> {
    let mut c = n.walk();
    n.named_children(&mut c).collect()
}

/// Types whose values can be copied into an `any` without copying a lock: pointers, slices, maps,
/// channels, functions, interfaces, and the predeclared scalar types.
fn copy_safe(ty: Node<'_>, src: &str) -> bool {
    match ty.kind() {
        "pointer_type" | "slice_type" | "map_type" | "channel_type" | "function_type" | "interface_type" => true,
        "type_identifier" => matches!(
            &src[ty.byte_range()],
            "bool"
                | "string"
                | "error"
                | "any"
                | "int"
                | "int8"
                | "int16"
                | "int32"
                | "int64"
                | "uint"
                | "uint8"
                | "uint16"
                | "uint32"
                | "uint64"
                | "uintptr"
                | "byte"
                | "rune"
                | "float32"
                | "float64"
                | "complex64"
                | "complex128"
        ),
        "parenthesized_type" => ty.named_child(0).is_some_and(|t| copy_safe(t, src)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_name_is_the_first_token_after_a_byte_order_mark_and_comments() {
        assert_eq!(package_of_text("\u{feff}package bom\n").as_deref(), Some("bom"));
        assert_eq!(
            package_of_text("/*\npackage docs\n*/\n// package notes\npackage real // x\n").as_deref(),
            Some("real")
        );
        assert_eq!(package_of_text("//go:build linux\n\npackage tags\r\n").as_deref(), Some("tags"));
        assert_eq!(package_of_text("package first; func F() {}").as_deref(), Some("first"));
        assert_eq!(package_of_text("// only a comment\n"), None);
    }

    #[test]
    fn cgo_is_recognised_alone_or_in_a_group() {
        assert!(uses_cgo("package p\n\n// #include <stdlib.h>\nimport \"C\"\n"));
        assert!(uses_cgo("package p\n\n/*\n#include <stdlib.h>\n*/\nimport (\n\t\"C\"\n\t\"fmt\"\n)\n"));
        assert!(uses_cgo("package p\r\nimport (\"C\"; \"fmt\")\r\n"));
        assert!(!uses_cgo("package p\n\nvar s = []string{\n\t\"C\",\n}\nvar t = \"C\"\n"));
    }
}
