//! Python diagnostics: the interpreter's own errors (compile and run time) and the undefined-name
//! checks of pyflakes and ruff. First match wins, so specific rules come before general ones.

use super::Category::*;
use super::Rule;

pub(super) const RULES: &[Rule] = &[
    Rule {
        name: "python_tab_error",
        category: Indentation,
        pattern: r"TabError|inconsistent use of tabs and spaces",
        why_fails: "The inserted lines indent with tabs where the file uses spaces, or the other way round.",
        how_to_fix: "Indent inserted lines with exactly the characters the surrounding block uses.",
    },
    Rule {
        name: "python_unexpected_indent",
        category: Indentation,
        pattern: r"unexpected indent",
        why_fails: "A line is indented deeper than its block allows.",
        how_to_fix: "Indent the inserted statement to the level of the statement it precedes.",
    },
    Rule {
        name: "python_unindent_mismatch",
        category: Indentation,
        pattern: r"unindent does not match any outer indentation level|dedent does not match",
        why_fails: "A line is dedented to a column that no enclosing block uses.",
        how_to_fix: "Reuse the exact indentation string of the enclosing block.",
    },
    Rule {
        name: "python_indentation_error",
        category: Indentation,
        pattern: r"IndentationError|expected an indented block",
        why_fails: "The block structure is broken: a block is empty or indented inconsistently.",
        how_to_fix: "Keep every block non-empty and indent inserted lines like their neighbours.",
    },
    Rule {
        name: "python_future_import",
        category: Import,
        pattern: r"from __future__ imports must occur at the beginning of the file",
        why_fails: "`from __future__` imports must come before any other statement except the module docstring.",
        how_to_fix: "Insert the telemetry import after the docstring and after every `from __future__` import.",
    },
    Rule {
        name: "python_return_outside_function",
        category: Syntax,
        pattern: r"'return' outside function|'yield' outside function",
        why_fails: "`return` or `yield` appears outside a function body, for example in a class body or at module level.",
        how_to_fix: "Keep inserted returns inside the function; class bodies and modules are not functions.",
    },
    Rule {
        name: "python_await_outside_async",
        category: Syntax,
        pattern: r"'await' outside (async )?function|'async with' outside async function|'async for' outside async function|asynchronous comprehension outside",
        why_fails: "`await` is only allowed inside `async def`.",
        how_to_fix: "Use the synchronous form of the telemetry call in ordinary functions.",
    },
    Rule {
        name: "python_global_declaration",
        category: Syntax,
        pattern: r"(used|assigned to|assigned) (prior to|before) (global|nonlocal) declaration|no binding for nonlocal",
        why_fails: "A `global` or `nonlocal` statement must come before any use of the name in the function.",
        how_to_fix: "Insert telemetry after the function's `global`/`nonlocal` declarations.",
    },
    Rule {
        name: "python_undefined_variable",
        category: UndefinedSymbol,
        pattern: r"NameError|undefined name|F821|is not defined|free variable .* referenced before assignment|UnboundLocalError",
        why_fails: "The code uses a name that is not defined where it runs, typically the telemetry module without its import.",
        how_to_fix: "Import the telemetry runtime at the top of the module (after docstring and __future__ imports) before using it.",
    },
    Rule {
        name: "python_import_error",
        category: Import,
        pattern: r"ModuleNotFoundError|ImportError|No module named|cannot import name|attempted relative import",
        why_fails: "The import names a module that cannot be found from this file, or a relative import is used outside a package.",
        how_to_fix: "Import the runtime the way this file is run: absolute for scripts, relative inside packages.",
    },
    Rule {
        name: "python_unused_import",
        category: Unused,
        pattern: r"imported but unused|F401",
        why_fails: "The import is never used in the module.",
        how_to_fix: "Remove the import or use it.",
    },
    Rule {
        name: "python_unused_variable",
        category: Unused,
        pattern: r"assigned to but never used|F841",
        why_fails: "A local variable is assigned and never read.",
        how_to_fix: "Use the value in the telemetry call or drop the assignment.",
    },
    Rule {
        name: "python_redefinition",
        category: Redeclared,
        pattern: r"redefinition of unused|F811",
        why_fails: "A name is defined twice before the first definition is used.",
        how_to_fix: "Give inserted helpers unique names.",
    },
    Rule {
        name: "python_type_error",
        category: Type,
        pattern: r"TypeError",
        why_fails: "A value is used with the wrong type or a call has the wrong arguments.",
        how_to_fix: "Match the callee's signature; pass values unchanged to telemetry.",
    },
    Rule {
        name: "python_attribute_error",
        category: UndefinedSymbol,
        pattern: r"AttributeError",
        why_fails: "The code reads an attribute the object does not have.",
        how_to_fix: "Call only functions the telemetry runtime defines.",
    },
    Rule {
        name: "python_syntax_error",
        category: Syntax,
        pattern: r"SyntaxError|invalid syntax|was never closed|unmatched|unterminated|E999",
        why_fails: "The code does not parse as Python.",
        how_to_fix: "Insert complete statements with balanced brackets; lambdas and expressions cannot hold statements.",
    },
];
