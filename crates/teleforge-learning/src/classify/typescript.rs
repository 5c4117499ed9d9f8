//! TypeScript diagnostics from the compiler (`tsc`, or its API as teleforge's validator runs
//! it): `error TS2304: Cannot find name 'x'.`, with or without the `file(line,col): ` or
//! `file:line:col: ` prefix. Rules key on the TS code, which does not change between versions or
//! locales, and fall back to families of codes (1xxx grammar, 17xxx JSX, 2xxx types, 5xxx/6xxx
//! options). First match wins, so specific rules come before general ones.

use super::Category::*;
use super::Rule;

pub(super) const RULES: &[Rule] = &[
    Rule {
        name: "ts_undefined_tel",
        category: UndefinedSymbol,
        pattern: r"TS(?:2304|2552): Cannot find name '(?:__teleforge\w*|Tel|tel)'",
        why_fails: "The telemetry runtime is used in a file that does not import it under that name.",
        how_to_fix: "Use the binding the file's import gives the runtime (`__teleforgeTel`), imported once at the top of the file.",
    },
    Rule {
        name: "ts_undefined_variable",
        category: UndefinedSymbol,
        pattern: r"TS(?:(?:2304|2552|2580|2581|2582|2583|2584|2591|2592|2593): Cannot find name|18004: No value exists in scope)",
        why_fails: "The code names a variable, function or global that is not declared in scope (`require` and `process` need @types/node).",
        how_to_fix: "Use only names in scope (the function's parameters and locals, the imported runtime); import instead of `require` in TypeScript.",
    },
    Rule {
        name: "ts_import_extension",
        category: Import,
        pattern: r"TS(?:2834|2835|5097|2691):",
        why_fails: "Under node16/nodenext resolution, relative ES imports need the file extension of the emitted file.",
        how_to_fix: "Write relative imports with their runtime extension (`./x.js`, `./_teleforge_tel.cjs`).",
    },
    Rule {
        name: "ts_import_error",
        category: Import,
        pattern: r"TS(?:2307|2792|7016|2306):",
        why_fails: "The import path does not resolve to a module or its type declarations from this file.",
        how_to_fix: "Import the runtime by a path relative to this file, with its extension; its `.d.cts` declarations must sit beside it.",
    },
    Rule {
        name: "ts_missing_export",
        category: Import,
        pattern: r"TS(?:2305|2614|2724|2460|2459):",
        why_fails: "The import names an export the module does not declare.",
        how_to_fix: "Import the runtime as a namespace (`import * as __teleforgeTel from …`) and call its declared functions.",
    },
    Rule {
        name: "ts_default_import",
        category: Import,
        pattern: r"TS(?:1259|1192|2497):",
        why_fails: "A CommonJS module is default-imported without `esModuleInterop`/`allowSyntheticDefaultImports`, or has no default export.",
        how_to_fix: "Use a namespace import (`import * as x from …`), which needs neither flag.",
    },
    Rule {
        name: "ts_esm_syntax_in_commonjs",
        category: Import,
        pattern: r"TS(?:1286|1287|1293|1295|1202|1203|1479):",
        why_fails: "The file's emitted module system forbids this import/export form (ES syntax in a CommonJS file under `verbatimModuleSyntax`, or `import = require` when targeting ES modules).",
        how_to_fix: "Follow the file's own form: `import x = require(\"…\")` in CommonJS files under verbatimModuleSyntax, `import * as x from \"…\"` in ES modules.",
    },
    Rule {
        name: "ts_type_only_import",
        category: Import,
        pattern: r"TS(?:1484|1485|2206|2207|1205|1448):",
        why_fails: "A type is imported or re-exported as a value under `verbatimModuleSyntax`/`isolatedModules`.",
        how_to_fix: "Import types with `import type`; inserted code should import only values it calls.",
    },
    Rule {
        name: "ts_redeclared",
        category: Redeclared,
        pattern: r"TS(?:2451|2300|2393|2440|2441):",
        why_fails: "The inserted code declares a name that already exists in the same scope.",
        how_to_fix: "Use unique names for inserted temporaries, or declare them in a new block.",
    },
    Rule {
        name: "ts_super_root",
        category: Other,
        pattern: r"TS(?:2401|2376|17009|17011|2377):",
        why_fails: "In a derived constructor `super()` must come first (or be a root-level statement when the class has property initialisers, parameter properties or #private members), and nothing may read `this` before it.",
        how_to_fix: "Leave such constructors alone, or insert only statements that run after `super(...)` at the body's top level.",
    },
    Rule {
        name: "ts_implicit_any",
        category: Type,
        pattern: r"TS(?:7005|7006|7008|7010|7011|7015|7018|7019|7022|7023|7024|7031|7034|7053):",
        why_fails: "Under `noImplicitAny` a declaration without a type annotation would be typed `any`.",
        how_to_fix: "Give inserted declarations a type or an initialiser with one; never add untyped parameters.",
    },
    Rule {
        name: "ts_unknown_catch",
        category: Type,
        pattern: r"TS18046:",
        why_fails: "A caught value is `unknown` under `strict` (`useUnknownInCatchVariables`) and is used as if it had properties.",
        how_to_fix: "Pass the caught value on unchanged (`throw Tel.funcError(span, e)`), without reading its properties.",
    },
    Rule {
        name: "ts_possibly_undefined",
        category: Type,
        pattern: r"TS(?:2531|2532|2533|18047|18048|18049|18050):",
        why_fails: "Under `strictNullChecks` a value that may be null or undefined is used as if it were not.",
        how_to_fix: "Pass values to the runtime as they are (it accepts anything); do not dereference them in inserted code.",
    },
    Rule {
        name: "ts_property_missing",
        category: Type,
        pattern: r"TS(?:2339|2551|2550):",
        why_fails: "The code reads a property the type does not declare (the runtime declares funcEntry, funcExit, funcError, loopIter and varAssign).",
        how_to_fix: "Call only the runtime's declared functions, and read only declared properties.",
    },
    Rule {
        name: "ts_argument_type",
        category: Type,
        pattern: r"TS2345:",
        why_fails: "An argument's type does not match the parameter's (the runtime takes string name and file, a number line, an object of arguments).",
        how_to_fix: "Pass the site as literals (\"name\", \"file\", line) and the arguments as an object literal `{ a, b }`.",
    },
    Rule {
        name: "ts_assign_type",
        category: Type,
        pattern: r"TS(?:2322|2741|2739|2740|2559|2820):",
        why_fails: "A value's type is not assignable where it is used; a wrapped return or assignment must keep the type of the expression it wraps.",
        how_to_fix: "Wrap values only in the runtime's identity-typed calls (`funcExit(span, x)` has the type of `x`).",
    },
    Rule {
        name: "ts_argument_count",
        category: Type,
        pattern: r"TS(?:2554|2555|2556|2575):",
        why_fails: "A function is called with more or fewer arguments than it declares.",
        how_to_fix: "Call the runtime with exactly its documented arguments.",
    },
    Rule {
        name: "ts_const_assign",
        category: Type,
        pattern: r"TS(?:2588|2540|2630|2632):",
        why_fails: "The code assigns to a constant, a read-only property, a function or an import.",
        how_to_fix: "Never assign in inserted code: record values, do not change them.",
    },
    Rule {
        name: "ts_used_before_assigned",
        category: Type,
        pattern: r"TS(?:2454|2448|2449|2450):",
        why_fails: "A variable is read before it is definitely assigned (or before its declaration).",
        how_to_fix: "Record a variable only after the statement that assigns it.",
    },
    Rule {
        name: "ts_no_return",
        category: Type,
        pattern: r"TS(?:2366|7030|2355|2534):",
        why_fails: "A code path of a function with a declared return type ends without returning a value.",
        how_to_fix: "Keep every `return` of the function; inserted try/finally must not add a path that falls off the end.",
    },
    Rule {
        name: "ts_not_callable",
        category: Type,
        pattern: r"TS(?:2349|2348|2351|2721|2722):",
        why_fails: "The code calls a value whose type has no call signature.",
        how_to_fix: "Call only the runtime's functions.",
    },
    Rule {
        name: "ts_unused",
        category: Unused,
        pattern: r"TS(?:6133|6138|6192|6196|6198|6199|6205|7027|7028):",
        why_fails: "Under `noUnusedLocals`/`noUnusedParameters`/`allowUnreachableCode: false` a declared name is never read, or code cannot run.",
        how_to_fix: "Use every inserted declaration (the span in the exit call), and insert nothing after a return or throw.",
    },
    Rule {
        name: "ts_block_function_es5",
        category: Syntax,
        pattern: r"TS(?:1250|1251|1252):",
        why_fails: "Targeting ES5, a function declaration may not sit inside a block in strict code, and wrapping a body in `try { … }` puts its nested function declarations in one.",
        how_to_fix: "Leave functions whose body declares functions uninstrumented when the project targets ES5, or use a form that does not wrap the body in a block.",
    },
    Rule {
        name: "ts_await_outside_async",
        category: Syntax,
        pattern: r"TS(?:1308|1378|1375|1103):",
        why_fails: "`await` is used outside an async function (or at top level where the module setting forbids it).",
        how_to_fix: "Use the synchronous telemetry call in ordinary functions.",
    },
    Rule {
        name: "ts_jsx_syntax",
        category: Syntax,
        pattern: r"TS(?:17\d{3}|1381|1382):",
        why_fails: "The JSX is malformed (a tag without its closing tag, a `}` or `>` in text, JSX in a file that does not allow it).",
        how_to_fix: "Insert code only inside `{ }` expressions or function bodies, never between JSX tags.",
    },
    Rule {
        name: "ts_syntax_error",
        category: Syntax,
        pattern: r"TS1\d{3}:",
        why_fails: "The code does not parse (or breaks a grammar rule the compiler checks).",
        how_to_fix: "Produce complete statements; balance parentheses, braces and quotes.",
    },
    Rule {
        name: "ts_config_error",
        category: Other,
        pattern: r"TS(?:5\d{3}|6\d{3}|18003):",
        why_fails: "The compiler options or tsconfig.json are invalid, or the project has no input files.",
        how_to_fix: "Fix the project's tsconfig.json; instrumentation does not change it.",
    },
    Rule {
        name: "ts_type_error",
        category: Type,
        pattern: r"TS[24]\d{3}:",
        why_fails: "The inserted code does not type-check.",
        how_to_fix: "Pass values to the runtime unchanged and keep the types of every wrapped expression.",
    },
];

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{category_of, classify, classify_output, rule, Category};

    #[test]
    fn codes_classify_with_shared_categories() {
        let c = classify("typescript", "src/a.ts:3:5: error TS2304: Cannot find name '__teleforgeTel'.");
        assert_eq!((c.pattern.as_str(), c.category), ("ts_undefined_tel", Category::UndefinedSymbol));
        assert_eq!(classify("ts", "error TS2304: Cannot find name 'x'.").pattern, "ts_undefined_variable");
        // A shorthand property whose name is not in scope (`{ x }`).
        assert_eq!(
            classify("ts", "error TS18004: No value exists in scope for the shorthand property 'x'.").pattern,
            "ts_undefined_variable"
        );
        assert_eq!(
            classify("typescript", "a.ts(1,1): error TS2307: Cannot find module 'x'").category,
            Category::Import
        );
        assert_eq!(
            classify("typescript", "error TS7006: Parameter 'a' implicitly has an 'any' type.").pattern,
            "ts_implicit_any"
        );
        assert_eq!(
            classify("typescript", "error TS6133: 'x' is declared but its value is never read.").category,
            Category::Unused
        );
        assert_eq!(classify("typescript", "error TS2345: Argument of type").pattern, "ts_argument_type");
        assert_eq!(classify("typescript", "error TS2999: something new").pattern, "ts_type_error");
        assert_eq!(category_of("ts_redeclared"), Category::Redeclared);
        let unknown = classify("typescript", "a.ts:1:1: the compiler crashed");
        assert!(!unknown.known && unknown.pattern.starts_with("ts_msg_"), "{}", unknown.pattern);
    }

    /// Real `tsc` output (TypeScript 5.9) for small broken files, checked in with the command that
    /// printed it: `tests/data/diagnostics/typescript/<case>/{cmd,output.txt,expected}`.
    #[test]
    fn checked_in_tsc_outputs_classify_as_expected() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/diagnostics/typescript");
        let mut dirs: Vec<_> =
            std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        assert!(dirs.len() >= 20, "test data missing");
        let mut wrong = Vec::new();
        for dir in dirs {
            let expected = std::fs::read_to_string(dir.join("expected")).unwrap().trim().to_string();
            assert!(rule(&expected).is_some(), "{}: unknown {expected}", dir.display());
            let output = std::fs::read_to_string(dir.join("output.txt")).unwrap();
            let got = classify_output("typescript", &output).map(|c| c.pattern).unwrap_or_default();
            if got != expected {
                wrong.push(format!("{}: expected {expected}, got {got}", dir.display()));
            }
        }
        assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
    }
}
