//! TypeScript (`.ts`, `.mts`, `.cts`, `.tsx`) and JSX (`.jsx`): the JavaScript module's walker,
//! forms and guarantees (lines kept, `strip` byte-exact, instrumenting twice changes nothing),
//! run over the tree-sitter TypeScript, TSX or JavaScript grammar. All three share the language
//! name `typescript` (one learning store language, one validator: the project's own compiler).
//!
//! **What TypeScript adds, and what is done with it.** Type annotations, generics, `as`,
//! `satisfies`, `!` and definite assignment assertions are parts of the nodes the walker already
//! knows and need nothing. Bodiless code gets nothing: overload signatures (`function_signature`),
//! abstract and interface methods, and everything under `declare`, `enum` and `namespace`/`module`
//! (left alone with whatever is inside). Parameters are named through their pattern, so
//! parameter properties (`constructor(private a: A)`) are recorded as arguments and `this: T`
//! parameters are not. A derived constructor whose class has parameter properties, initialised
//! properties or `#private` members is left alone: TypeScript requires its `super(…)` call to be a
//! root-level statement there, and the function forms wrap the body in `try`.
//!
//! **Types of the inserted code.** The runtime's declaration file (`_teleforge_tel.d.cts`,
//! written beside `_teleforge_tel.cjs`) types every call that wraps a value as the identity
//! (`funcExit<T>(span, result: T): T`, `varAssign<T>(…, value: T): T`), so a wrapped `return`
//! keeps the type TypeScript inferred for it (literal widening and contextual typing included).
//! Where the function declares its return type (and is neither async nor a generator, nor a type
//! predicate), that type is the exit call's type argument (`funcExit<Op<T>>(span, x)`): a generic
//! call inside `x` then infers from the declared type exactly as it did, not through `funcExit`
//! (on rxjs 7's 251 sources this took first-attempt success from 1484 to all 1486 constructs).
//! Every inserted binding is used (no `noUnusedLocals` finding) and typed (no implicit `any`).
//!
//! **Module systems.** ES module syntax is what TypeScript sources use whatever they compile to,
//! so the runtime is bound with `import * as __teleforgeTel from "…/_teleforge_tel.cjs"` (a
//! namespace import needs neither `esModuleInterop` nor a default export, works in ES module
//! output, where node finds the runtime's named exports, and in CommonJS output). A file that
//! uses TypeScript's CommonJS syntax (`import x = require(…)`, `export =`), and every `.cts` file,
//! gets `import __teleforgeTel = require("…")` instead: the one form `verbatimModuleSyntax`
//! allows in a CommonJS file. A file with neither (a global script) gets the `import` and becomes
//! a module. JSX files follow the JavaScript rules (extension, `package.json`, syntax), with the
//! namespace import for ES modules. Both runtime files go at the instrumented root; a project that
//! compiles with `tsc` into another folder must copy `_teleforge_tel.cjs` there (it is not a
//! TypeScript source, so `tsc` does not emit it).
//!
//! **Snippets written by a model** (`slot`) go exactly where JavaScript's go (the same walker
//! made the same constructs): one statement first in a function body, first in a braced loop
//! body, or right after an assignment statement; arrow functions with an expression body and
//! loops without braces have no statement position and keep the template forms. A statement
//! changes no type TypeScript infers: it is not a `return` (return types are inferred from
//! those), a call of the runtime narrows nothing (none of its functions is an assertion function
//! or returns `never`), and declarations (`.d.ts` output) never see a function's statements. What
//! the allow-list lets through (runtime calls with names, literals and field reads; no type
//! syntax) is JavaScript that every grammar of this module parses alike. The project's compiler
//! still checks each snippet under the project's own options (a name out of scope, a string where
//! `line: number` is declared), which is what the retries and the learnings are about.
//!
//! Left alone as well: declaration files (`.d.ts`, `.d.mts`, `.d.cts`), and what the JavaScript
//! module leaves alone (generated and minified files, module-level loops and assignments, ...).

use tree_sitter::Tree;

use super::javascript::{self, discover_with, import_at, lit, module_system_of, runtime_path, Dialect, CJS, ESM};
use super::shared::{self, TestNames};
use super::{JavaScript, LanguageSupport, RuntimeFile, SourceFile};
use crate::construct::{Construct, ConstructKind, Edit, Slot};

/// The runtime's declaration file, written beside `_teleforge_tel.cjs`.
const DECLARATIONS: &str = include_str!("../../runtime/typescript/_teleforge_tel.d.cts");
/// Its file name.
pub const DECLARATIONS_FILE: &str = "_teleforge_tel.d.cts";

/// TypeScript and JSX, one value per grammar: [`TypeScript::TS`] (`.ts`, `.mts`, `.cts`),
/// [`TypeScript::TSX`] (`.tsx`) and [`TypeScript::JSX`] (`.jsx`).
pub struct TypeScript {
    dialect: Dialect,
    extensions: &'static [&'static str],
}

impl TypeScript {
    pub const TS: TypeScript = TypeScript { dialect: Dialect::TypeScript, extensions: &["ts", "mts", "cts"] };
    pub const TSX: TypeScript = TypeScript { dialect: Dialect::Tsx, extensions: &["tsx"] };
    pub const JSX: TypeScript = TypeScript { dialect: Dialect::JavaScript, extensions: &["jsx"] };

    /// The module system of a TypeScript file, as the runtime binding must be written: `cjs` for
    /// `.cts` and files using `import x = require(…)` or `export =`, else `esm`.
    fn ts_module(rel: &str, tree: &Tree) -> &'static str {
        if rel.ends_with(".cts") {
            return CJS;
        }
        if rel.ends_with(".mts") {
            return ESM;
        }
        let root = tree.root_node();
        let mut c = root.walk();
        let commonjs = root.named_children(&mut c).any(|n| match n.kind() {
            "import_statement" => {
                let mut c2 = n.walk();
                let found = n.named_children(&mut c2).any(|k| k.kind() == "import_require_clause");
                found
            }
            "export_statement" => n.child(1).is_some_and(|t| t.kind() == "="),
            _ => false,
        });
        if commonjs {
            CJS
        } else {
            ESM
        }
    }

    fn module(&self, file: &SourceFile, tree: &Tree) -> &'static str {
        match self.dialect {
            Dialect::JavaScript => module_system_of(file, tree),
            _ => Self::ts_module(&file.rel, tree),
        }
    }
}

/// `.d.ts`, `.d.mts`, `.d.cts`: types only.
fn is_declaration_file(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.ends_with(".d.ts")
        || name.ends_with(".d.mts")
        || name.ends_with(".d.cts")
        || name.contains(".d.") && name.ends_with(".ts")
}

impl LanguageSupport for TypeScript {
    fn name(&self) -> &'static str {
        "typescript"
    }

    fn extensions(&self) -> &'static [&'static str] {
        self.extensions
    }

    fn grammar(&self) -> tree_sitter::Language {
        self.dialect.grammar()
    }

    fn test_names(&self) -> TestNames {
        JavaScript.test_names()
    }

    fn skip_file(&self, text: &str) -> Option<&'static str> {
        JavaScript.skip_file(text)
    }

    fn discover(&self, file: &SourceFile, tree: &Tree) -> Vec<Construct> {
        if is_declaration_file(&file.rel) || javascript::is_minified_name(&file.rel) {
            return Vec::new();
        }
        discover_with(file, tree, self.dialect, self.module(file, tree))
    }

    fn file_edits(&self, file: &SourceFile, tree: &Tree) -> Vec<Edit> {
        let module = self.module(file, tree);
        if self.dialect == Dialect::JavaScript && module == CJS {
            // JSX in CommonJS: the JavaScript form (a `require` that falls back to no-ops).
            return vec![javascript::import_edit(&file.text, &file.rel, tree, module)];
        }
        let path = lit(&runtime_path(&file.rel));
        let binding = javascript::BINDING;
        let import = if module == CJS && self.dialect != Dialect::JavaScript {
            format!("import {binding} = require({path});")
        } else {
            format!("import * as {binding} from {path};")
        };
        vec![import_at(&file.text, tree, &import)]
    }

    fn runtime_files(&self, instrumented: &[&SourceFile]) -> Vec<RuntimeFile> {
        let mut files = JavaScript.runtime_files(instrumented);
        files.extend(shared::runtime_at_root(instrumented, DECLARATIONS_FILE, DECLARATIONS));
        files
    }

    fn is_runtime_file(&self, rel: &str) -> bool {
        shared::is_named(rel, &[DECLARATIONS_FILE]) || JavaScript.is_runtime_file(rel)
    }

    fn slot(&self, c: &Construct) -> Option<Slot> {
        // JavaScript's position and wrapping (the constructs are the JavaScript walker's); the
        // hint says what the compiler will hold the snippet to.
        let js = JavaScript.slot(c)?;
        let place = match c.kind {
            ConstructKind::Function => "run first in the function body",
            ConstructKind::Loop => "run first in every iteration of the loop body",
            ConstructKind::Variable => "run right after the assignment",
        };
        let binding = javascript::BINDING;
        let runtime = format!(
            "the telemetry runtime is bound to `{binding}` (funcEntry, funcExit, funcError, loopIter, varAssign)"
        );
        let hint = match self.dialect {
            Dialect::JavaScript => format!("one JavaScript (JSX) statement, {place}; {runtime}"),
            _ => format!(
                "one TypeScript statement, {place}; {runtime}, typed by its declaration file; the project's \
                 compiler checks the statement under its own strict options, so pass only names in scope here, \
                 and write no type syntax (annotations, `as`, `!`, `satisfies`, `<T>` type arguments)"
            ),
        };
        Some(Slot { hint, ..js })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::construct::ConstructKind;
    use crate::rewrite::{apply, strip_marked};

    fn lang_for(rel: &str) -> &'static TypeScript {
        if rel.ends_with(".tsx") {
            &TypeScript::TSX
        } else if rel.ends_with(".jsx") {
            &TypeScript::JSX
        } else {
            &TypeScript::TS
        }
    }

    fn parse(rel: &str, src: &str) -> Tree {
        let mut p = tree_sitter::Parser::new();
        p.set_language(&lang_for(rel).grammar()).unwrap();
        p.parse(src, None).unwrap()
    }

    /// Every construct with its first form applied, plus the file edit; checks lines and strip.
    fn instrument(rel: &str, src: &str) -> (Vec<Construct>, String) {
        let lang = lang_for(rel);
        let file = SourceFile { rel: rel.into(), text: src.into(), path: None };
        let tree = parse(rel, src);
        assert!(!tree.root_node().has_error(), "{src}");
        let cs = lang.discover(&file, &tree);
        let fe = lang.file_edits(&file, &tree);
        let mut edits: Vec<&Edit> = fe.iter().collect();
        for c in &cs {
            for e in &c.forms[0].edits {
                if !edits.iter().any(|x| x.offset == e.offset && x.text == e.text) {
                    edits.push(e);
                }
            }
        }
        let out = apply(src, &edits);
        assert_eq!(out.lines().count(), src.lines().count(), "{out}");
        assert_eq!(strip_marked(&out), src);
        assert!(!parse(rel, &out).root_node().has_error(), "{out}");
        // Instrumenting twice changes nothing: the file is recognised as instrumented.
        assert!(lang.is_instrumented(&out));
        (cs, out)
    }

    fn names(cs: &[Construct], kind: ConstructKind) -> Vec<String> {
        cs.iter().filter(|c| c.kind == kind).map(|c| c.function.clone()).collect()
    }

    #[test]
    fn typed_code_is_instrumented_and_bodiless_code_is_left_alone() {
        let src = r#"import { x } from "./x.js";
export function over(a: string): string;
export function over(a: number): number;
export function over(a: string | number): string | number {
  const b: typeof a = a as string satisfies string;
  return b!;
}
declare function ambient(a: number): void;
declare namespace NS { function inner(): void; }
namespace Real { export function f(a: number) { return a } }
enum E { A = 1, B = A << 1 }
interface I { m(a: number): number }
export abstract class Base<T> implements I {
  abstract run(this: Base<T>, t: T): void;
  m(a: number): number { let r!: number; r = a * 2; return r }
}
export class D extends Base<number> {
  constructor(private readonly n: number) { super(); }
  run(this: D, t: number): void { for (let i = 0; i < t; i++) { console.log(i, this.n) } }
}
export class Plain extends Base<string> {
  constructor(s: string) { super(); console.log(s) }
  run(): void {}
}
export const g = <T,>(v: T): T[] => [v];
"#;
        let (cs, out) = instrument("src/a.ts", src);
        let funcs = names(&cs, ConstructKind::Function);
        assert_eq!(funcs, ["over", "Base.m", "D.run", "Plain.constructor", "Plain.run", "g"], "{out}");
        assert!(out.starts_with("/*tf{*/import * as __teleforgeTel from \"../_teleforge_tel.cjs\"; /*}tf*/import"));
        let over = cs.iter().find(|c| c.function == "over" && c.kind == ConstructKind::Function).unwrap();
        assert!(over.forms[0].code().contains("{ a }"), "{:?}", over.forms[0]);
        // `this: D` is not an argument; a parameter property is.
        let run = cs.iter().find(|c| c.function == "D.run" && c.kind == ConstructKind::Function).unwrap();
        assert!(run.forms[0].code().contains("{ t }"));
        assert_eq!(run.features["params"], "simple");
        assert_eq!(names(&cs, ConstructKind::Variable), ["over", "Base.m"]);
        assert_eq!(names(&cs, ConstructKind::Loop), ["D.run"]);
    }

    #[test]
    fn commonjs_typescript_uses_import_require() {
        let src = "import fs = require(\"fs\");\nfunction f(a: number) { return a + fs.constants.F_OK }\nexport = f;\n";
        let (cs, out) = instrument("lib/f.ts", src);
        assert_eq!(cs[0].features["module"], CJS);
        assert!(out.starts_with("/*tf{*/import __teleforgeTel = require(\"../_teleforge_tel.cjs\"); /*}tf*/"), "{out}");
        let (_, out) = instrument("f.cts", "'use strict';\nexport function f() { return 1 }\n");
        assert!(out.starts_with("'use strict';/*tf{*/ import __teleforgeTel = require(\"./_teleforge_tel.cjs\");"));
        let (cs, out) = instrument("f.mts", "function f() { return 1 }\n");
        assert_eq!(cs[0].features["module"], ESM);
        assert!(out.starts_with("/*tf{*/import * as __teleforgeTel from"));
    }

    #[test]
    fn tsx_and_jsx_components() {
        let src = "import React from 'react';\ntype P = { name: string };\nexport function Hello({ name }: P) {\n  const greeting = <b>{name}</b>;\n  return <div onClick={() => console.log(name)}>{greeting}</div>;\n}\nexport const List = <T,>({ items }: { items: T[] }) => <ul>{items.map((i) => <li>{String(i)}</li>)}</ul>;\n";
        let (cs, out) = instrument("ui/Hello.tsx", src);
        let funcs = names(&cs, ConstructKind::Function);
        assert!(funcs.contains(&"Hello".to_string()) && funcs.contains(&"List".to_string()), "{funcs:?}");
        assert!(out.contains("return /*tf{*/__teleforgeTel.funcExit(__teleforgeS0, /*}tf*/<div"), "{out}");
        let jsx =
            "import React from 'react';\nexport function A(props) {\n  const x = <p>{props.t}</p>;\n  return x;\n}\n";
        let (cs, out) = instrument("A.jsx", jsx);
        assert_eq!(names(&cs, ConstructKind::Function), ["A"]);
        assert!(out.starts_with("/*tf{*/import * as __teleforgeTel from \"./_teleforge_tel.cjs\";"));
        let (_, out) =
            instrument("B.jsx", "const React = require('react');\nfunction B() { return <i/> }\nmodule.exports = B;\n");
        assert!(out.contains("require(\"./_teleforge_tel.cjs\")"));
    }

    #[test]
    fn code_after_a_namespace_with_classes_and_objects_is_named_and_walked_as_usual() {
        let src = "namespace N { export class K { static { } m() { return 1 } } export const o = { f() { return 2 } }; }\nfunction after(xs: number[]) {\n  let t = 0;\n  for (const x of xs) t += x;\n  return { g: () => t };\n}\n";
        let (cs, _) = instrument("n.ts", src);
        assert_eq!(names(&cs, ConstructKind::Function), ["g", "after"]);
        assert_eq!(names(&cs, ConstructKind::Loop), ["after"]);
        assert_eq!(names(&cs, ConstructKind::Variable), ["after"]);
    }

    #[test]
    fn a_declared_return_type_is_the_exit_calls_type_argument() {
        let src = "export function f<T>(n: number): Op<T> {\n  return n > 0 ? op((x: T) => x) : () => none;\n}\nexport async function g(): Promise<number> { return 1 }\nexport function p(x: unknown): x is string { return typeof x === 'string' }\nexport const h = (a: number): string => String(a);\nexport function m(): {\n  a: number } { return { a: 1 } }\n";
        let (_, out) = instrument("a.ts", src);
        assert!(out.contains("return /*tf{*/__teleforgeTel.funcExit<Op<T>>(__teleforgeS0, /*}tf*/n > 0"), "{out}");
        assert!(out.contains("return /*tf{*/__teleforgeTel.funcExit(__teleforgeS0, /*}tf*/1"), "{out}");
        assert!(out.contains("return /*tf{*/__teleforgeTel.funcExit(__teleforgeS0, /*}tf*/typeof x"), "{out}");
        assert!(out.contains("try { return __teleforgeTel.funcExit<string>(__teleforgeS0, /*}tf*/String(a)"), "{out}");
        // A type written over several lines would add lines: the exit call infers instead.
        assert!(out.contains("return /*tf{*/__teleforgeTel.funcExit(__teleforgeS0, /*}tf*/{ a: 1 }"), "{out}");
    }

    #[test]
    fn derived_constructors_that_need_a_root_super_are_left_alone() {
        let src = "class A { }\nclass B extends A { x = 1; constructor() { super() } }\nclass C extends A { #p = 0; constructor() { super() } }\nclass D extends A { constructor(public q: number) { super() } }\nclass F extends A { y!: number; constructor(a: number) { super(); this.y = a } }\n";
        let (cs, _) = instrument("c.ts", src);
        assert_eq!(names(&cs, ConstructKind::Function), ["F.constructor"]);
        assert_eq!(cs[0].features["derived_constructor"], "yes");
    }

    /// Model snippets go where JavaScript's go: one statement per slot, on the construct's own
    /// line; constructs without a statement position (expression-bodied arrows, loops without
    /// braces) have no slot. Placed snippets parse, keep lines and strip byte-exactly.
    #[test]
    fn slots_for_model_snippets() {
        let src = "export function f<T>(a: T, n: number): T[] {\n  const out: T[] = [];\n  for (let i = 0; i < n; i++) { out.push(a) }\n  for (const x of out) console.log(x);\n  return out;\n}\nexport const g = (s: string): number => s.length;\nclass B { }\nexport class D extends B { constructor(q: number) { super(); console.log(q) } }\n";
        let file = SourceFile { rel: "src/f.ts".into(), text: src.into(), path: None };
        let tree = parse("src/f.ts", src);
        let cs = TypeScript::TS.discover(&file, &tree);
        let mut edits = Vec::new();
        let mut kinds = Vec::new();
        for c in &cs {
            let Some(slot) = TypeScript::TS.slot(c) else {
                kinds.push(format!("{} {} none", c.kind.as_str(), c.function));
                continue;
            };
            assert_eq!(JavaScript.slot(c).map(|s| s.offset), Some(slot.offset));
            assert!(slot.hint.starts_with("one TypeScript statement"), "{}", slot.hint);
            assert!(slot.hint.contains("__teleforgeTel") && slot.hint.contains("`as`"), "{}", slot.hint);
            kinds.push(format!("{} {}", c.kind.as_str(), c.function));
            edits.push(slot.edit(&format!("__teleforgeTel.loopIter(\"{}\", \"src/f.ts\", {})", c.function, c.line)));
        }
        assert_eq!(
            kinds,
            ["variable f", "loop f", "loop f none", "function f", "function g none", "function D.constructor"],
            "{kinds:?}"
        );
        let refs: Vec<&Edit> = edits.iter().collect();
        let out = apply(src, &refs);
        assert_eq!(out.lines().count(), src.lines().count(), "{out}");
        assert!(!parse("src/f.ts", &out).root_node().has_error(), "{out}");
        assert_eq!(strip_marked(&out), src);
        assert!(
            out.contains("const out: T[] = [];/*tf{*/ __teleforgeTel.loopIter(\"f\", \"src/f.ts\", 2);/*}tf*/"),
            "{out}"
        );
        assert!(
            out.contains("constructor(q: number) {/*tf{*/ __teleforgeTel.loopIter(\"D.constructor\", \"src/f.ts\", 9);/*}tf*/ super();"), "{out}");

        // JSX: the same slots, described as JavaScript.
        let jsx = "export function A(props) {\n  return <p>{props.t}</p>;\n}\n";
        let file = SourceFile { rel: "A.jsx".into(), text: jsx.into(), path: None };
        let cs = TypeScript::JSX.discover(&file, &parse("A.jsx", jsx));
        let slot = TypeScript::JSX.slot(&cs[0]).unwrap();
        assert!(
            slot.hint.starts_with("one JavaScript (JSX) statement, run first in the function body"),
            "{}",
            slot.hint
        );
        let tsx_slot = TypeScript::TSX.slot(&cs[0]).unwrap();
        assert_eq!((tsx_slot.offset, &tsx_slot.before, &tsx_slot.after), (slot.offset, &slot.before, &slot.after));
    }

    #[test]
    fn declaration_files_and_runtime_files() {
        let file = SourceFile { rel: "types/x.d.ts".into(), text: "export function f(): void\n".into(), path: None };
        assert!(TypeScript::TS.discover(&file, &parse("x.ts", &file.text)).is_empty());
        assert!(
            TypeScript::TS.is_runtime_file("_teleforge_tel.d.cts")
                && TypeScript::TS.is_runtime_file("_teleforge_tel.cjs")
        );
        let rt = TypeScript::TS.runtime_files(&[&file]);
        assert_eq!(
            rt.iter().map(|r| r.rel.as_str()).collect::<Vec<_>>(),
            ["_teleforge_tel.cjs", "_teleforge_tel.d.cts"]
        );
        assert!(rt[1].text.starts_with("// Code generated by teleforge. DO NOT EDIT."));
        assert!(TypeScript::TS.is_test_file("src/a.spec.ts"));
    }
}
