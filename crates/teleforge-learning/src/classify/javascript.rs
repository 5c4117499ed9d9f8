//! JavaScript diagnostics from node: its parser (ES modules and CommonJS) and load-time errors.
//! First match wins, so specific rules come before general ones.

use super::Category::*;
use super::Rule;

pub(super) const RULES: &[Rule] = &[
    Rule {
        name: "js_import_outside_module",
        category: Import,
        pattern: r"Cannot use import statement outside a module",
        why_fails: "An `import` statement is used in a file that node loads as CommonJS.",
        how_to_fix: "Use `require()` in CommonJS files (.cjs, or .js without \"type\": \"module\"); `import` only in ES modules.",
    },
    Rule {
        name: "js_require_in_esm",
        category: Import,
        pattern: r"require is not defined in ES module scope|require\(\) of ES Module|ERR_REQUIRE_ESM",
        why_fails: "`require` does not exist in ES modules (.mjs, or .js under \"type\": \"module\").",
        how_to_fix: "Use `import` in ES modules; `require` only in CommonJS.",
    },
    Rule {
        name: "js_export_in_commonjs",
        category: Import,
        pattern: r"Unexpected token 'export'|exports is not defined in ES module scope|module is not defined in ES module scope",
        why_fails: "ES module syntax is used in a CommonJS file, or CommonJS globals in an ES module.",
        how_to_fix: "Follow the file's module system: `module.exports` in CommonJS, `export` in ES modules.",
    },
    Rule {
        name: "js_missing_export",
        category: Import,
        pattern: r"does not provide an export named|is not exported|has no exported member",
        why_fails: "The import names an export the module does not have.",
        how_to_fix: "Import exactly the names the runtime exports (default or named, as it declares).",
    },
    Rule {
        name: "js_import_error",
        category: Import,
        pattern: r"Cannot find module|ERR_MODULE_NOT_FOUND|Cannot find package|MODULE_NOT_FOUND",
        why_fails: "The import path does not resolve from this file.",
        how_to_fix: "Import the runtime by a path relative to this file, with the extension ES modules need.",
    },
    Rule {
        name: "js_redeclared",
        category: Redeclared,
        pattern: r"has already been declared",
        why_fails: "The inserted code declares a name that already exists in the same scope.",
        how_to_fix: "Use unique names for inserted temporaries, or declare them in a new block.",
    },
    Rule {
        name: "js_super_before_this",
        category: Other,
        pattern: r"Must call super constructor|before accessing 'this'|'super' keyword unexpected",
        why_fails: "In a derived class constructor nothing may touch `this` before `super()` returns.",
        how_to_fix: "Insert constructor telemetry after the `super(...)` call, without reading `this` before it.",
    },
    Rule {
        name: "js_await_outside_async",
        category: Syntax,
        pattern: r"await is only valid in async functions|Unexpected reserved word.*await|await is not defined",
        why_fails: "`await` is used in a function that is not `async`.",
        how_to_fix: "Use the synchronous telemetry call in ordinary functions.",
    },
    Rule {
        name: "js_illegal_return",
        category: Syntax,
        pattern: r"Illegal return statement",
        why_fails: "A `return` appears outside any function.",
        how_to_fix: "Keep inserted returns inside the function body.",
    },
    Rule {
        name: "js_strict_mode",
        category: Syntax,
        pattern: r"in strict mode|strict mode reserved word|Delete of an unqualified identifier",
        why_fails: "The code is not allowed in strict mode (ES modules and classes are always strict).",
        how_to_fix: "Write strict-mode code; keep \"use strict\" as the first statement when the file has it.",
    },
    Rule {
        name: "js_const_assign",
        category: Type,
        pattern: r"Assignment to constant variable",
        why_fails: "The code assigns to a `const` binding.",
        how_to_fix: "Do not reassign the user's constants; read them instead.",
    },
    Rule {
        name: "js_undefined_variable",
        category: UndefinedSymbol,
        pattern: r"is not defined|ReferenceError",
        why_fails: "The code uses a name that is not in scope, typically the telemetry object without its import.",
        how_to_fix: "Import or require the telemetry runtime at the top of the file, in the file's module system.",
    },
    Rule {
        name: "js_type_error",
        category: Type,
        pattern: r"TypeError",
        why_fails: "A value is used in a way its type does not allow (calling a non-function, reading a property of undefined).",
        how_to_fix: "Call only functions the telemetry runtime exports, with the arguments it expects.",
    },
    Rule {
        name: "js_syntax_error",
        category: Syntax,
        pattern: r"SyntaxError|Unexpected token|Unexpected end of input|Unexpected identifier|missing \) after|Invalid or unexpected token|Unexpected string|Unterminated",
        why_fails: "The code does not parse as JavaScript.",
        how_to_fix: "Insert complete statements with balanced braces; an arrow function with an expression body needs a block first.",
    },
];
