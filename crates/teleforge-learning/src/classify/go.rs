//! Go diagnostics, as printed by `go build` and `go vet` (Go 1.20+ wording; older wording where it
//! differs). First match wins, so specific rules come before general ones.

use super::Category::*;
use super::Rule;

pub(super) const RULES: &[Rule] = &[
    Rule {
        name: "go_import_error",
        category: Import,
        pattern: r"is not in std|cannot find package|cannot find module providing package|no required module provides package|could not import|is not a package|package .* is not in GOROOT|malformed import path|use of internal package .* not allowed",
        why_fails: "The import names a package that does not exist in the module or the standard library. Files in the same package never import each other: `Tel` is already in scope.",
        how_to_fix: "Remove the import. Call `Tel` directly; it is defined in a file of the same package.",
    },
    Rule {
        name: "go_import_cycle",
        category: Import,
        pattern: r"import cycle not allowed",
        why_fails: "The inserted import makes two packages import each other, which Go forbids.",
        how_to_fix: "Do not import the instrumented package from its own helper; keep the helper in the same package.",
    },
    Rule {
        name: "go_unused_import",
        category: Unused,
        pattern: r#"imported and not used|imported but not used"#,
        why_fails: "Go rejects an import that no code in the file uses.",
        how_to_fix: "Remove the import, or use it in the inserted code.",
    },
    Rule {
        name: "go_undefined_tel",
        category: UndefinedSymbol,
        pattern: r"undefined: Tel\b",
        why_fails: "`Tel` is not defined in this package: the runtime file was not written beside the code, or the snippet is in a different package.",
        how_to_fix: "Write the `Tel` runtime file into the same package (same folder, same `package` clause) before validating.",
    },
    Rule {
        name: "go_undefined_member",
        category: UndefinedSymbol,
        pattern: r"has no field or method|undefined \(type .* has no",
        why_fails: "The code calls a method or field that the type does not have.",
        how_to_fix: "Use only the methods the type defines; check the exact name and capitalisation.",
    },
    Rule {
        name: "go_undefined",
        category: UndefinedSymbol,
        pattern: r"undefined: \w+|undeclared name",
        why_fails: "The code uses a name that is not declared in scope at that point.",
        how_to_fix: "Use a name that is in scope (a parameter, a named result, a declared variable) or declare it first.",
    },
    Rule {
        name: "go_unused_variable",
        category: Unused,
        pattern: r"declared and not used|declared but not used",
        why_fails: "Go rejects a local variable that is assigned but never read.",
        how_to_fix: "Read the variable (pass it to the telemetry call) or assign to `_` instead.",
    },
    Rule {
        name: "go_unused_result",
        category: Unused,
        pattern: r"\bis not used$|\(value of type .*\) is not used|evaluated but not used",
        why_fails: "An expression whose value is discarded cannot stand alone as a statement in Go.",
        how_to_fix: "Assign the value (`_ = expr`) or call a function for its effect only.",
    },
    Rule {
        name: "go_missing_return",
        category: Syntax,
        pattern: r"missing return",
        why_fails: "A function with results must end in a return statement on every path; the inserted code moved or hid the final return.",
        how_to_fix: "Keep the original return as the last statement; record results with a deferred call instead of code after the return.",
    },
    Rule {
        name: "go_no_new_variables",
        category: Redeclared,
        pattern: r"no new variables on left side of :=",
        why_fails: "`:=` must declare at least one new name; every name on the left already exists in this scope.",
        how_to_fix: "Use `=` to assign to existing names, or pick a fresh, unlikely name for the temporary.",
    },
    Rule {
        name: "go_redeclared",
        category: Redeclared,
        pattern: r"redeclared in this block|already declared|other declaration of",
        why_fails: "The inserted code declares a name that already exists in the same scope.",
        how_to_fix: "Use a unique name for inserted temporaries (for example with a `__tel` prefix) or reuse the existing one.",
    },
    Rule {
        name: "go_argument_count",
        category: Type,
        pattern: r"not enough arguments in call|too many arguments in call|not enough return values|too many return values",
        why_fails: "The call passes a different number of arguments or results than the function declares.",
        how_to_fix: "Match the callee's signature exactly; check the `Tel` API for the argument list.",
    },
    Rule {
        name: "go_assignment_mismatch",
        category: Type,
        pattern: r"assignment mismatch",
        why_fails: "The number of names on the left does not match the number of values on the right.",
        how_to_fix: "Assign exactly as many names as the expression returns.",
    },
    Rule {
        name: "go_goto_jump",
        category: Other,
        pattern: r"jumps over (variable )?declaration|jumps into block",
        why_fails: "A `goto` may not jump over a variable declaration; the inserted `:=` sits between a goto and its label.",
        how_to_fix: "Declare inserted temporaries with `var` at the top of the function, before any goto, or avoid new declarations.",
    },
    Rule {
        name: "go_copylocks",
        category: Type,
        pattern: r"passes lock by value|copies lock value|lock by value|call of .* copies lock",
        why_fails: "A value holding a sync.Mutex (or another lock) is copied, which `go vet` rejects: the copy does not share the lock.",
        how_to_fix: "Pass such values by pointer, or record only a description (the type name) instead of the value.",
    },
    Rule {
        name: "go_nosplit_overflow",
        category: Other,
        pattern: r"nosplit stack over|stack overflow",
        why_fails: "The function is marked //go:nosplit and the inserted calls exceed its fixed stack budget.",
        how_to_fix: "Do not instrument //go:nosplit functions.",
    },
    Rule {
        name: "go_type_error",
        category: Type,
        pattern: r"cannot use .* as .* value|mismatched types|invalid operation|cannot convert|incompatible type|cannot assign|type .* is not an expression|is not a type|cannot infer|does not satisfy|\(value of type|invalid argument",
        why_fails: "A value of one type is used where another type is required.",
        how_to_fix: "Pass values as the callee expects them (for `Tel`, arguments are `any`); convert explicitly where needed.",
    },
    Rule {
        name: "go_syntax_error",
        category: Syntax,
        pattern: r"syntax error|non-declaration statement outside function body|expected '|unexpected newline|illegal character|invalid character|string literal not terminated|label .* defined and not used",
        why_fails: "The code does not parse as Go.",
        how_to_fix: "Insert complete statements only inside function bodies, with balanced braces and parentheses.",
    },
];
