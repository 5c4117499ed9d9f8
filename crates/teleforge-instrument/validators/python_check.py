"""teleforge Python batch validator: one interpreter checks a whole batch of files.

Run (script embedded with include_str!, request JSON on stdin):

    python3 -c <this file>            (or: python3 /tmp/python_check.py)

No flags are needed: warnings are silenced inside the script, output is pure ASCII JSON, and the
script drops the current directory ('' in sys.path under -c) before importing anything that is not
built in, so a project file named json.py / ast.py / pyflakes.py in the caller's cwd cannot shadow
the real modules. Do not use -I / -s: they hide a user-site pyflakes. The interpreter that runs this
script is the Python whose grammar is checked: pick it to match the project.

Request: {"root": "/abs/dir", "files": [{"path": "rel/x.py", "checks": "compile"|"full"}]}
    A file may instead give "bytes": N: the request is then one line of JSON, and the files'
    bytes follow its newline, concatenated in request order (nothing is read from disk for
    them: the caller checks text it never writes).
    "checks" (default "full"): "compile" runs only the compile check on that file (the caller
    knows nothing inserted there can break a name); "full" adds pyflakes/ruff.
Answer:  JSON Lines on stdout, one diagnostic per line
    {"file", "line" (1-based), "column" (1-based characters, or null), "message", "source"}
then {"summary": {"files": N, "seconds": F, "checks": ["compile", "pyflakes"|"ruff"]}}.
Exit 0 when the check ran; 2 with one stderr line on a bad request or an unreadable file.

Checks:
* compile: the file's bytes are decoded as CPython does (BOM / PEP 263 coding cookie, via
  tokenize.detect_encoding), parsed with compile(..., PyCF_ONLY_AST, dont_inherit=True), then the
  AST is compiled to bytecode, which raises the compiler-stage errors ('return' outside function,
  duplicate argument, late __future__ import, ...). Same errors as compile(source); the two steps
  give pyflakes its tree and let us fix columns: CPython 3.11 reports a UTF-8 *byte* offset for
  parser errors when given bytes and for every compiler-stage error, a character offset otherwise.
  Columns here are always characters. Without pyflakes each file gets one plain compile() of the
  decoded text (the two steps cost ~1.8x that), and only a failing file is redone in two steps to
  tell the stages apart. If decoding fails, the bytes
  go to compile() so the message is CPython's own ("(unicode error) 'utf-8' codec can't decode...").
  Messages are "<ExceptionType>: <msg>": SyntaxError, IndentationError, TabError (and ValueError /
  RecursionError / MemoryError if CPython raises those for pathological input).
* pyflakes (if importable), in-process on every file that compiled, reporting ONLY the message
  types in PYFLAKES_REPORTED below, with pyflakes' own text (e.g. "undefined name 'tel'").
  pyflakes reports a name that may come from `from x import *` as ImportStarUsage ("... may be
  undefined, or defined from star imports"), not UndefinedName; that type is not reported.
  PYFLAKES_BUILTINS (comma-separated extra builtins) is honoured as pyflakes does.
* ruff (only if pyflakes is not importable and `ruff` is on PATH): one `ruff check` per chunk of
  files over every file that compiled, with the equivalent rule codes (RUFF_SELECT), --isolated
  (project config ignored), --ignore-noqa (pyflakes has no noqa either), --exit-zero. Messages are
  ruff's own text ("Undefined name `tel`"). If ruff itself fails, "ruff" is left out of checks.
"""

import sys

if sys.path and sys.path[0] == "":
    del sys.path[0]

import ast  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import tokenize  # noqa: E402
import warnings  # noqa: E402

warnings.simplefilter("ignore")  # SyntaxWarning/DeprecationWarning from compile() go nowhere

T0 = time.monotonic()

# pyflakes message types reported, and why (everything else, e.g. unused imports/variables,
# format-string checks, star-import notices, is style or pre-existing noise, not breakage):
PYFLAKES_REPORTED = (
    # an inserted call refers to a helper that is not imported / defined, or an inserted
    # assignment turns a global into a local used before assignment
    "UndefinedName",
    "UndefinedExport",
    "UndefinedLocal",
    # an inserted import/def collides with an existing one of the same name
    "RedefinedWhileUnused",
    # an inserted import (e.g. the telemetry handle) is rebound by a user's loop variable
    "ImportShadowedByLoopVar",
    # statements placed where they cannot be; CPython's compile() already rejects all of these,
    # so they only show up here if the interpreter disagrees: a safety net
    "ReturnOutsideFunction",
    "YieldOutsideFunction",
    "ContinueOutsideLoop",
    "BreakOutsideLoop",
    "DuplicateArgument",
    "LateFutureImport",
    "FutureFeatureNotDefined",
    "DefaultExceptNotLast",
    "TwoStarredExpressions",
    "TooManyExpressionsInStarredAssignment",
    "ImportStarNotPermitted",
)
# ruff equivalents (only stable pyflakes-derived codes; the brief's minimal set is the fallback)
RUFF_SELECT = "F821,F822,F823,F811,F402,F404,F407,F701,F702,F704,F706,F707"
RUFF_SELECT_MINIMAL = "F821,F811,F404,F706,F704"
RUFF_CHUNK = 1000

_LINE_SPLIT = re.compile(r"\r\n|\r|\n")


class BadRequest(Exception):
    pass


def emit(out, file, line, column, message, source):
    out.append(
        json.dumps(
            {"file": file, "line": line, "column": column, "message": message, "source": source}
        )
    )


def line_text(text, lineno):
    if text is None or not lineno or lineno < 1:
        return None
    lines = _LINE_SPLIT.split(text)
    return lines[lineno - 1] if lineno <= len(lines) else None


def byte_col_to_char(text, lineno, byte_col0):
    """0-based UTF-8 byte column on line `lineno` -> 1-based character column."""
    if byte_col0 is None or byte_col0 < 0:
        return None
    line = line_text(text, lineno)
    if line is None:
        return byte_col0 + 1
    return len(line.encode("utf-8")[:byte_col0].decode("utf-8", "ignore")) + 1


def decode(data):
    """Decode as CPython would, or return None (then compile() the bytes for its message)."""
    try:
        enc, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(enc)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return None


def error_diag(out, rel, e, text, byte_offsets):
    name = type(e).__name__
    if isinstance(e, SyntaxError):
        msg = "%s: %s" % (name, e.msg)
        line = e.lineno if isinstance(e.lineno, int) and e.lineno > 0 else 1
        col = e.offset if isinstance(e.offset, int) and e.offset > 0 else None
        if col is not None and byte_offsets:
            col = byte_col_to_char(text, line, col - 1)
    else:
        msg = "%s: %s" % (name, e)
        line, col = 1, None
    emit(out, rel, line, col, msg, "compile")


def compile_file(out, rel, data, want_tree):
    """Returns (tree or None, text) if the file compiled, else None (diagnostic emitted)."""
    text = decode(data)
    if text is None:
        try:
            compile(data, rel, "exec", 0, dont_inherit=True)
        except Exception as e:  # noqa: BLE001 - any compile failure is a diagnostic
            error_diag(out, rel, e, None, True)
            return None
        text = data.decode("utf-8", "replace")  # compiled after all: keep going
    if not want_tree:
        # Fast path (no pyflakes): one compile(); on failure redo it in two steps below, which
        # tells a parser error (character offset) from a compiler-stage one (byte offset).
        try:
            compile(text, rel, "exec", 0, dont_inherit=True)
            return None, text
        except Exception:  # noqa: BLE001
            pass
    try:
        tree = compile(text, rel, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except Exception as e:  # noqa: BLE001
        error_diag(out, rel, e, text, False)  # parser errors: character offsets
        return None
    try:
        compile(tree, rel, "exec", 0, dont_inherit=True)
    except Exception as e:  # noqa: BLE001
        error_diag(out, rel, e, text, True)  # compiler-stage errors: col_offset + 1 (bytes)
        return None
    return tree, text


def load_pyflakes():
    try:
        from pyflakes import checker, messages
    except Exception:  # noqa: BLE001 - absent or broken: fall back
        return None
    wanted = tuple(getattr(messages, n) for n in PYFLAKES_REPORTED if hasattr(messages, n))
    return checker, wanted


def run_pyflakes(out, rel, tree, text, pf):
    checker, wanted = pf
    try:
        w = checker.Checker(tree, filename=rel, withDoctest=False)
    except Exception:  # noqa: BLE001 - a pyflakes bug must not sink the batch; file skipped
        return
    msgs = [m for m in w.messages if isinstance(m, wanted)]
    msgs.sort(key=lambda m: (m.lineno, m.col))
    for m in msgs:
        emit(out, rel, m.lineno, byte_col_to_char(text, m.lineno, m.col),
             m.message % m.message_args, "pyflakes")


def run_ruff(out, ruff, items):
    """items: list of (rel, abs). Returns True if every ruff run succeeded."""
    by_abs = {os.path.normcase(os.path.abspath(a)): r for r, a in items}
    results = {r: [] for r, _ in items}
    select = RUFF_SELECT
    for i in range(0, len(items), RUFF_CHUNK):
        chunk = [a for _, a in items[i:i + RUFF_CHUNK]]
        for attempt in (0, 1):
            cmd = [ruff, "check", "--isolated", "--no-cache", "--ignore-noqa", "--exit-zero",
                   "--output-format", "json", "--select", select, "--"] + chunk
            try:
                p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
            except OSError:
                return False
            if p.returncode == 0:
                break
            if attempt == 0 and select != RUFF_SELECT_MINIMAL:
                select = RUFF_SELECT_MINIMAL  # an older/newer ruff may not know a code
                continue
            return False
        try:
            found = json.loads(p.stdout.decode("utf-8") or "[]")
        except ValueError:
            return False
        for d in found:
            if not d.get("code"):
                continue  # ruff's own syntax errors: compile() has the final word
            rel = by_abs.get(os.path.normcase(os.path.abspath(d.get("filename", ""))))
            if rel is None:
                continue
            loc = d.get("location") or {}
            results[rel].append((loc.get("row") or 1, loc.get("column"), d.get("message", "")))
    for rel, _ in items:
        for row, col, msg in sorted(results[rel], key=lambda x: (x[0], x[1] or 0)):
            emit(out, rel, row, col, msg, "ruff")
    return True


def main():
    raw = sys.stdin.buffer.read()
    nl = raw.find(b"\n")
    req = None
    if nl >= 0:
        try:
            req = json.loads(raw[:nl])
        except ValueError:
            req = None
    if not isinstance(req, dict):
        try:
            req = json.loads(raw or b"null")
        except ValueError as e:
            raise BadRequest("bad request: stdin is not JSON: %s" % e)
        nl = len(raw)
    pos = nl + 1
    if not isinstance(req, dict) or not isinstance(req.get("root"), str) \
            or not isinstance(req.get("files"), list):
        raise BadRequest('bad request: expected {"root": string, "files": [...]}')
    root = req["root"]
    files = req["files"]
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("path"), str):
            raise BadRequest("bad request: each file needs a \"path\": %r" % (f,))

    pf = load_pyflakes()
    ruff = None if pf else shutil.which("ruff")
    checks = ["compile"]
    out = []
    compiled = []  # (rel, path) of files that compiled, for ruff
    per_file = []  # list of output chunks, one per file, to keep request order
    for f in files:
        rel = f["path"]
        path = os.path.join(root, rel)
        size = f.get("bytes")
        if isinstance(size, int) and size >= 0:
            if pos + size > len(raw):
                raise BadRequest("bad request: %s: fewer bytes than announced" % rel)
            data = raw[pos:pos + size]
            pos += size
        else:
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError as e:
                raise BadRequest("cannot read %s: %s" % (rel, e))
        buf = []
        full = f.get("checks", "full") != "compile"
        res = compile_file(buf, rel, data, pf is not None and full)
        if res is not None and full:
            if pf:
                run_pyflakes(buf, rel, res[0], res[1], pf)
            elif ruff:
                compiled.append((rel, path))
        per_file.append((rel, buf))
    if pf:
        checks.append("pyflakes")
    elif ruff and compiled:
        ruff_out = []
        if run_ruff(ruff_out, ruff, compiled):
            checks.append("ruff")
            by_rel = {}
            for line in ruff_out:
                by_rel.setdefault(json.loads(line)["file"], []).append(line)
            seen = set()
            for rel, buf in per_file:
                if rel not in seen:
                    buf.extend(by_rel.get(rel, ()))
                    seen.add(rel)
    elif ruff:
        checks.append("ruff")  # nothing compiled: ruff had nothing to do
    for _, buf in per_file:
        out.extend(buf)
    out.append(json.dumps({"summary": {"files": len(files),
                                       "seconds": round(time.monotonic() - T0, 6),
                                       "checks": checks}}))
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    try:
        main()
    except BadRequest as e:
        sys.stderr.write(str(e).replace("\n", " ") + "\n")
        sys.exit(2)
    except Exception as e:  # noqa: BLE001 - the checker itself failed
        sys.stderr.write(("python_check failed: %s: %s" % (type(e).__name__, e)).replace("\n", " ")
                         + "\n")
        sys.exit(2)
