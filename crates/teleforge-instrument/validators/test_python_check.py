"""Tests for python_check.py: run it as a subprocess on temp trees.

    python3 -m unittest -v test_python_check      (from this directory)
    python3 test_python_check.py

The ruff fallback test runs when `ruff` is on PATH or TELEFORGE_TEST_RUFF names a ruff binary.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "python_check.py")
with open(SCRIPT, encoding="utf-8") as _fh:
    SCRIPT_TEXT = _fh.read()


def ensure_pyflakes():
    try:
        import pyflakes  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "pyflakes"], check=True)


def write(root, rel, content):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(content.encode("utf-8") if isinstance(content, str) else content)


def run(root, rels, *, as_c=True, env=None, cwd=None, request=None):
    req = request if request is not None else {
        "root": root, "files": [{"path": r, "kind": "python"} for r in rels]}
    cmd = [sys.executable, "-c", SCRIPT_TEXT] if as_c else [sys.executable, SCRIPT]
    p = subprocess.run(cmd, input=json.dumps(req).encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, cwd=cwd or root)
    lines = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
    diags = [l for l in lines if "summary" not in l]
    summary = [l["summary"] for l in lines if "summary" in l]
    return p, diags, (summary[0] if summary else None)


class PythonCheckTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ensure_pyflakes()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pycheck-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def check(self, files, **kw):
        for rel, content in files.items():
            write(self.tmp, rel, content)
        p, diags, summary = run(self.tmp, list(files), **kw)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stderr, b"")
        self.assertIsNotNone(summary)
        self.assertEqual(summary["files"], len(files))
        return diags, summary

    def test_good_file(self):
        diags, summary = self.check({"pkg/good.py": (
            '"""doc"""\nfrom __future__ import annotations\nimport os\n\n'
            "def f(x):\n    return os.path.join(x, 'a')\n")})
        self.assertEqual(diags, [])
        self.assertEqual(summary["checks"], ["compile", "pyflakes"])
        self.assertIsInstance(summary["seconds"], float)

    def test_syntax_error(self):
        diags, _ = self.check({"a.py": "x = 1\ny = foo(1,\n"})
        self.assertEqual(diags, [{"file": "a.py", "line": 2, "column": 8,
                                  "message": "SyntaxError: '(' was never closed",
                                  "source": "compile"}])

    def test_indentation_error(self):
        diags, _ = self.check({"a.py": "def f():\n    x = 1\n      y = 2\n"})
        self.assertEqual(len(diags), 1)
        self.assertEqual(diags[0]["message"], "IndentationError: unexpected indent")
        self.assertEqual(diags[0]["line"], 3)

    def test_expected_indented_block(self):
        diags, _ = self.check({"a.py": "if x:\ny = 1\n"})
        self.assertEqual(diags[0]["message"],
                         "IndentationError: expected an indented block after 'if' statement on line 1")
        self.assertEqual(diags[0]["line"], 2)

    def test_tab_error(self):
        diags, _ = self.check({"a.py": "if True:\n\tx = 1\n        y = 2\n"})
        self.assertEqual(len(diags), 1)
        self.assertEqual(diags[0]["message"],
                         "TabError: inconsistent use of tabs and spaces in indentation")
        self.assertEqual(diags[0]["line"], 3)

    def test_compiler_stage_error_character_column(self):
        # CPython gives a UTF-8 byte offset here; we report characters.
        diags, _ = self.check({"a.py": "é = 1; return 2\n"})
        self.assertEqual(diags, [{"file": "a.py", "line": 1, "column": 8,
                                  "message": "SyntaxError: 'return' outside function",
                                  "source": "compile"}])

    def test_parser_error_character_column(self):
        diags, _ = self.check({"a.py": 'x = "éé" +/ 2\n'})
        self.assertEqual((diags[0]["line"], diags[0]["column"]), (1, 11))
        self.assertEqual(diags[0]["message"], "SyntaxError: invalid syntax")

    def test_undefined_name(self):
        diags, _ = self.check({"a.py": "import os\n\ndef f():\n    tel.span('f')\n    return os.sep\n"})
        self.assertEqual(diags, [{"file": "a.py", "line": 4, "column": 5,
                                  "message": "undefined name 'tel'", "source": "pyflakes"}])

    def test_undefined_local_and_redefinition(self):
        diags, _ = self.check({"a.py": (
            "import tel\nimport tel\n\nx = 1\ndef f():\n    print(x)\n    x = 2\n")})
        msgs = [d["message"] for d in diags]
        self.assertIn("redefinition of unused 'tel' from line 1", msgs)
        self.assertTrue(any(m.startswith("local variable 'x'") and "referenced before assignment" in m
                            for m in msgs), msgs)

    def test_noise_not_reported(self):
        diags, _ = self.check({"a.py": "import os\nimport sys\n\ndef f():\n    unused = 1\n    return f'x'\n"})
        self.assertEqual(diags, [])

    def test_star_import_not_reported(self):
        diags, _ = self.check({"a.py": "from os.path import *\n\nprint(join('a', 'b'), maybe_here)\n"})
        self.assertEqual(diags, [])

    def test_encoding_declaration(self):
        good = "# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n".encode("latin-1")
        bad = "# -*- coding: latin-1 -*-\nx = '\xe9\xe9'; return 1\n".encode("latin-1")
        diags, _ = self.check({"good.py": good, "bad.py": bad})
        self.assertEqual(diags, [{"file": "bad.py", "line": 2, "column": 11,
                                  "message": "SyntaxError: 'return' outside function",
                                  "source": "compile"}])

    def test_bom_and_bad_utf8(self):
        diags, _ = self.check({"bom.py": b"\xef\xbb\xbfx = 1\n", "bad.py": b"x = '\xe9'\n"})
        self.assertEqual(len(diags), 1)
        self.assertEqual(diags[0]["file"], "bad.py")
        self.assertTrue(diags[0]["message"].startswith("SyntaxError: (unicode error) 'utf-8' codec"),
                        diags[0])

    def test_same_errors_as_plain_compile(self):
        cases = ["def f(a, a): pass\n", "x = 1\nfrom __future__ import annotations\n",
                 "for x in y:\n    pass\ncontinue\n", "f(**a, *b)\n", "class A:\n    yield 1\n",
                 "def f():\n    nonlocal q\n", "try:\n    pass\nexcept:\n    pass\nexcept ValueError:\n    pass\n"]
        files = {"c%d.py" % i: c for i, c in enumerate(cases)}
        diags, _ = self.check(files)
        got = {d["file"]: (d["message"], d["line"]) for d in diags}
        for rel, src in files.items():
            try:
                compile(src, rel, "exec", dont_inherit=True)
                want = None
            except SyntaxError as e:
                want = ("%s: %s" % (type(e).__name__, e.msg), e.lineno)
            self.assertEqual(got.get(rel), want, rel)

    def test_cwd_shadowing_does_not_break(self):
        write(self.tmp, "json.py", "raise SystemExit('shadowed json imported')\n")
        write(self.tmp, "pyflakes.py", "raise SystemExit('shadowed pyflakes imported')\n")
        diags, summary = self.check({"a.py": "x = tel\n"})
        self.assertEqual([d["message"] for d in diags], ["undefined name 'tel'"])
        self.assertEqual(summary["checks"], ["compile", "pyflakes"])

    def test_run_from_file(self):
        write(self.tmp, "a.py", "x = (\n")
        p, diags, summary = run(self.tmp, ["a.py"], as_c=False)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(diags[0]["message"], "SyntaxError: '(' was never closed")

    def test_bad_request(self):
        for req in ({"root": 1}, {"files": []}, {"root": self.tmp, "files": [{"nope": 1}]}):
            p, diags, summary = run(self.tmp, [], request=req)
            self.assertEqual(p.returncode, 2)
            self.assertEqual(len(p.stderr.decode().strip().splitlines()), 1)
        p, _, _ = run(self.tmp, ["missing.py"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("missing.py", p.stderr.decode())

    def test_empty_batch(self):
        p, diags, summary = run(self.tmp, [])
        self.assertEqual((p.returncode, diags, summary["files"]), (0, [], 0))

    def _no_pyflakes_env(self, path):
        block = os.path.join(self.tmp, "_block")
        write(block, "pyflakes/__init__.py", "raise ImportError('blocked for test')\n")
        env = dict(os.environ, PYTHONPATH=block, PATH=path)
        return env

    def test_without_pyflakes_or_ruff(self):
        env = self._no_pyflakes_env(os.path.dirname(sys.executable))
        if shutil.which("ruff", path=env["PATH"]):
            self.skipTest("ruff sits next to the interpreter")
        diags, summary = self.check({"a.py": "x = tel\n", "b.py": "x = (\n",
                                     "c.py": "é = 1; return 2\n"}, env=env)
        self.assertEqual(summary["checks"], ["compile"])
        self.assertEqual([(d["file"], d["line"], d["column"], d["source"]) for d in diags],
                         [("b.py", 1, 5, "compile"), ("c.py", 1, 8, "compile")])

    def test_ruff_fallback(self):
        ruff = os.environ.get("TELEFORGE_TEST_RUFF") or shutil.which("ruff")
        if not ruff:
            self.skipTest("ruff not installed")
        path = os.path.dirname(os.path.abspath(ruff)) + os.pathsep + os.environ.get("PATH", "")
        env = self._no_pyflakes_env(path)
        diags, summary = self.check({
            "a.py": "import os\n\ndef f():\n    tel.span('f')\n",
            "b.py": "from os.path import *\nprint(join('a'))\n",
            "c.py": "x = (\n",
            "d.py": "import tel\nimport tel\n",
        }, env=env)
        self.assertEqual(summary["checks"], ["compile", "ruff"])
        by = {}
        for d in diags:
            by.setdefault(d["file"], []).append(d)
        self.assertEqual([(d["line"], d["column"], d["source"]) for d in by["a.py"]], [(4, 5, "ruff")])
        self.assertIn("tel", by["a.py"][0]["message"])
        self.assertNotIn("b.py", by)
        self.assertEqual([d["source"] for d in by["c.py"]], ["compile"])
        self.assertEqual(by["d.py"][0]["line"], 2)

    def test_500_files_one_run(self):
        files = {}
        for i in range(500):
            body = ["import os\n", "\n"]
            for j in range(20):
                body.append("def f%d(x, y=%d):\n    if x:\n        return os.path.join(str(x), str(y))\n"
                            "    return [v * %d for v in range(y)]\n\n" % (j, j, j))
            if i % 100 == 7:
                body.append("def broken(:\n")
            if i % 100 == 8:
                body.append("tel.span('x')\n")
            files["pkg%d/m%d.py" % (i % 10, i)] = "".join(body)
        t = time.monotonic()
        diags, summary = self.check(files)
        wall = time.monotonic() - t
        size = sum(len(v) for v in files.values())
        print("\n500 files (%.1f KB): wall %.3f s, checker-reported %.3f s, checks %s"
              % (size / 1024, wall, summary["seconds"], summary["checks"]), file=sys.stderr)
        self.assertEqual(sorted({d["source"] for d in diags}), ["compile", "pyflakes"])
        self.assertEqual(len(diags), 10)


if __name__ == "__main__":
    unittest.main(verbosity=2)
