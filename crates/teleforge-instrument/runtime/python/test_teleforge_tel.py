"""Tests for _teleforge_tel.py (docs/TELEMETRY.md, Python runtime).

Run from the repository root:
    python3 -m unittest discover -s crates/teleforge-instrument/runtime/python -v
or from this folder:
    python3 -m unittest -v

The runtime reads its configuration once per process, so every scenario runs in
a fresh interpreter (``sys.executable -c``) with its own environment.  Every
scenario must exit 0 and print nothing at all: the runtime never writes to
stdout or stderr, and scenario failures show up as a traceback on stderr.
"""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = os.path.join(HERE, "_teleforge_tel.py")

# Common prelude of every scenario.  `OUT(obj)` hands data back to the test.
PRELUDE = """\
import sys, os, json, gc
from _teleforge_tel import tel
def OUT(obj):
    with open(os.environ["TF_OUT"], "w") as f:
        json.dump(obj, f)
def EVENTS():
    with open(os.environ["TELEMETRY_FILE"]) as f:
        return [json.loads(l) for l in f]
"""

BASE_FIELDS = {
    "ts_unix_nano": int,
    "kind": str,
    "span_id": (str, type(None)),
    "parent_span_id": (str, type(None)),
    "thread": str,
    "pid": int,
    "code.function.name": str,
    "code.file.path": str,
    "code.line.number": int,
}
KIND_FIELDS = {
    "func_entry": {"args": dict},
    "func_exit": {"duration_ns": int, "results": list},
    "loop_iter": {"iteration": int},
    "var_assign": {"variable": str},
}
HEX16 = re.compile(r"^[0-9a-f]{16}$")


class Scenario(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tftel-")
        self.events_path = os.path.join(self.tmp, "events.jsonl")
        self.out_path = os.path.join(self.tmp, "out.json")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_py(self, body, enabled=True, env=None, expect_rc=0):
        """Runs PRELUDE + body; returns (parsed events or None, OUT data or None)."""
        e = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
        e["PYTHONPATH"] = HERE
        e["PYTHONDONTWRITEBYTECODE"] = "1"
        e["TF_OUT"] = self.out_path
        e.pop("PYTHONASYNCIODEBUG", None)
        if enabled:
            e["TELEMETRY_FILE"] = self.events_path
        e.update(env or {})
        code = PRELUDE + textwrap.dedent(body)
        p = subprocess.run(
            [sys.executable, "-W", "default", "-c", code],
            cwd=self.tmp,
            env=e,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=300,
        )
        self.assertEqual(p.returncode, expect_rc, "scenario failed:\n" + p.stderr.decode(errors="replace"))
        self.assertEqual(p.stdout, b"", "something was printed to stdout")
        self.assertEqual(p.stderr, b"", "something was printed to stderr")
        out = None
        if os.path.exists(self.out_path):
            with open(self.out_path) as f:
                out = json.load(f)
        events = None
        if os.path.exists(self.events_path):
            events = self.parse(self.events_path)
        return events, out

    def parse(self, path):
        with open(path, "rb") as f:
            data = f.read()
        if data:
            self.assertTrue(data.endswith(b"\n"), "last line not terminated")
        events = []
        for raw in data.split(b"\n")[:-1]:
            ev = json.loads(raw.decode("utf-8"))  # raises on an invalid or interleaved line
            self.check_shape(ev)
            events.append(ev)
        return events

    def check_shape(self, ev):
        self.assertIsInstance(ev, dict)
        kind = ev.get("kind")
        self.assertIn(kind, KIND_FIELDS)
        want = dict(BASE_FIELDS)
        want.update(KIND_FIELDS[kind])
        for field, typ in want.items():
            self.assertIn(field, ev, "%s lacks %s" % (kind, field))
            self.assertIsInstance(ev[field], typ, "%s.%s" % (kind, field))
            self.assertNotIsInstance(ev[field], bool, "%s.%s" % (kind, field))
        extra = set(ev) - set(want) - {"error", "value"}
        self.assertEqual(extra, set(), "unexpected fields")
        if kind == "var_assign":
            self.assertIn("value", ev)
        if "error" in ev:
            self.assertEqual(kind, "func_exit")
            self.assertIsInstance(ev["error"], str)
        if kind in ("func_entry", "func_exit"):
            self.assertRegex(ev["span_id"], HEX16)
        if ev["span_id"] is not None:
            self.assertRegex(ev["span_id"], HEX16)
        if ev["parent_span_id"] is not None:
            self.assertRegex(ev["parent_span_id"], HEX16)
        self.assertRegex(ev["thread"], r"^thread-\d+(/task-.+)?$")
        self.assertGreater(ev["ts_unix_nano"], 1500000000 * 10**9)
        if kind == "func_exit":
            self.assertGreaterEqual(ev["duration_ns"], 0)

    def by_kind(self, events, kind, name=None):
        return [e for e in events if e["kind"] == kind and (name is None or e["code.function.name"] == name)]

    def one(self, events, kind, name):
        got = self.by_kind(events, kind, name)
        self.assertEqual(len(got), 1, "%s %s: %r" % (kind, name, got))
        return got[0]


class TestModuleFile(unittest.TestCase):
    def test_first_line_is_generated_header(self):
        with open(MODULE, encoding="utf-8") as f:
            self.assertEqual(f.readline(), "# Code generated by teleforge. DO NOT EDIT.\n")

    def test_python38_syntax(self):
        with open(MODULE, encoding="utf-8") as f:
            ast.parse(f.read(), filename=MODULE, feature_version=(3, 8))

    def test_only_standard_library_imports(self):
        with open(MODULE, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        allowed = {"os", "sys", "_thread", "contextvars", "itertools", "time", "functools", "types", "_json", "json", "atexit"}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [(node.module or "").split(".")[0]]
            else:
                continue
            for n in names:
                self.assertIn(n, allowed)

    def test_import_with_warnings_as_errors_is_silent(self):
        for env_file in (None, "/nonexistent-dir/x.jsonl"):
            e = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
            if env_file:
                e["TELEMETRY_FILE"] = env_file
            p = subprocess.run(
                [sys.executable, "-W", "error", "-c", "import _teleforge_tel; _teleforge_tel.tel.loop_iter('f','a.py',1)"],
                cwd=HERE,
                env=e,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                timeout=60,
            )
            self.assertEqual((p.returncode, p.stdout, p.stderr), (0, b"", b""))


class TestDisabled(Scenario):
    BODY = """
        before = set(sys.modules)
        import _teleforge_tel
        class Obj: pass
        o, exc = Obj(), ValueError("x")
        assert tel.func_entry("m.f", "m.py", 1, {"a": o}) is None
        assert tel.func_exit(None, o) is o
        assert tel.func_exit(None) is None
        assert tel.func_error(None, exc) is exc
        assert tel.loop_iter("m.f", "m.py", 2) is None
        assert tel.var_assign("m.f", "m.py", 3, "x", o) is o
        def f(a): return a
        async def co(): pass
        def gen(): yield 1
        assert tel.instrument("m.f", "m.py", 4)(f) is f
        assert tel.instrument("m.co", "m.py", 5)(co) is co
        assert tel.instrument("m.gen", "m.py", 6)(gen) is gen
        with tel.span("m.s", "m.py", 7, {"a": o}) as s:
            assert s.result(o) is o
        try:
            with tel.span("m.s", "m.py", 8):
                raise exc
        except ValueError as e:
            assert e is exc
        for i in range(1000):
            tel.loop_iter("m.f", "m.py", 2)
        new = set(sys.modules) - before
        OUT(sorted(new))
    """

    def check(self, env):
        events, new = self.run_py(self.BODY, enabled=False, env=env)
        self.assertIsNone(events)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["out.json"])  # no telemetry file anywhere
        # Disabled, the runtime imports nothing beyond these small modules.
        self.assertEqual(set(new), set())  # the prelude imported it already; nothing more

    def test_unset_writes_nothing_and_passes_values_through(self):
        self.check({})

    def test_empty_writes_nothing_and_passes_values_through(self):
        self.check({"TELEMETRY_FILE": ""})

    def test_unwritable_file_switches_off_silently(self):
        for bad in ("/nonexistent-dir/sub/events.jsonl", self.tmp):  # missing dir; a directory
            events, _ = self.run_py(
                self.BODY
                + """
        for i in range(300):
            tel.var_assign("m.f", "m.py", 9, "x", i)
        """,
                enabled=False,
                env={"TELEMETRY_FILE": bad},
            )
            self.assertIsNone(events)
            self.assertFalse(os.path.exists("/nonexistent-dir"))


class TestEvents(Scenario):
    def test_every_field_span_ids_and_nesting(self):
        events, out = self.run_py(
            """
            outer = tel.func_entry("app.outer", "app/m.py", 10, {"n": 3, "s": "hi"})
            tel.var_assign("app.outer", "app/m.py", 11, "x", 42)
            inner = tel.func_entry("app.inner", "app/m.py", 20, {})
            tel.loop_iter("app.inner", "app/m.py", 21)
            r = tel.func_exit(inner, 7)
            assert r == 7
            tel.var_assign("app.outer", "app/m.py", 12, "y", 1.5)
            assert tel.func_exit(outer) is None
            tel.var_assign("<module>", "app/m.py", 30, "z", None)
            OUT({"pid": os.getpid()})
            """
        )
        self.assertEqual([e["kind"] for e in events],
                         ["func_entry", "var_assign", "func_entry", "loop_iter", "func_exit", "var_assign", "func_exit", "var_assign"])
        for e in events:
            self.assertEqual(e["pid"], out["pid"])
        oe, x, ie, it, ix, y, ox, z = events
        self.assertEqual(oe["args"], {"n": 3, "s": "hi"})
        self.assertEqual((oe["code.function.name"], oe["code.file.path"], oe["code.line.number"]), ("app.outer", "app/m.py", 10))
        self.assertIsNone(oe["parent_span_id"])
        self.assertEqual(ox["span_id"], oe["span_id"])
        self.assertEqual(ix["span_id"], ie["span_id"])
        self.assertNotEqual(ie["span_id"], oe["span_id"])
        self.assertEqual(ie["parent_span_id"], oe["span_id"])
        self.assertEqual(ix["parent_span_id"], oe["span_id"])
        self.assertEqual((x["span_id"], x["parent_span_id"], x["variable"], x["value"]), (oe["span_id"], None, "x", 42))
        self.assertEqual((it["span_id"], it["parent_span_id"], it["iteration"]), (ie["span_id"], oe["span_id"], 1))
        self.assertEqual((y["span_id"], y["value"]), (oe["span_id"], 1.5))  # inner popped on exit
        self.assertEqual((z["span_id"], z["parent_span_id"], z["value"]), (None, None, None))
        self.assertEqual(ix["results"], [7])
        self.assertEqual(ox["results"], [])
        self.assertNotIn("error", ix)
        self.assertEqual((ox["code.function.name"], ox["code.line.number"]), ("app.outer", 10))
        self.assertLessEqual(oe["ts_unix_nano"], ox["ts_unix_nano"])
        self.assertGreaterEqual(ox["duration_ns"], ix["duration_ns"])
        self.assertRegex(oe["thread"], r"^thread-\d+$")

    def test_func_call_writes_an_entry_that_is_never_a_parent(self):
        events, _ = self.run_py(
            """
            outer = tel.func_entry("app.outer", "app/m.py", 10, {})
            tel.func_call("app.entry_only", "app/m.py", 15, {"a": 1})
            inner = tel.func_entry("app.inner", "app/m.py", 20, {})
            tel.func_exit(inner)
            tel.func_exit(outer)
            """
        )
        oe, call, ie, ix, ox = events
        self.assertEqual((call["kind"], call["code.function.name"], call["args"]), ("func_entry", "app.entry_only", {"a": 1}))
        self.assertEqual(call["parent_span_id"], oe["span_id"])
        self.assertEqual(ie["parent_span_id"], oe["span_id"], "the entry-only call became the current span")

    def test_func_error_records_and_exception_propagates_unchanged(self):
        events, out = self.run_py(
            """
            import traceback
            def boom():
                global RAISE_LINE
                RAISE_LINE = sys._getframe().f_lineno + 1
                raise KeyError("missing")
            def f():
                span = tel.func_entry("m.f", "m.py", 1)
                try:
                    boom()
                except BaseException as e:
                    raise tel.func_error(span, e)
                return tel.func_exit(span, 1)
            def g():  # the bare-raise form, and a second exit on the same span is ignored
                span = tel.func_entry("m.g", "m.py", 2)
                try:
                    boom()
                except BaseException as e:
                    tel.func_error(span, e)
                    tel.func_exit(span, 5)
                    raise
            res = []
            for fn in (f, g):
                try:
                    fn()
                except KeyError as e:
                    tb = traceback.extract_tb(e.__traceback__)
                    res.append([type(e).__name__, e.args[0], tb[-1].name, tb[-1].lineno == RAISE_LINE])
            tel.var_assign("<module>", "m.py", 3, "after", 0)
            OUT(res)
            """
        )
        self.assertEqual(out, [["KeyError", "missing", "boom", True]] * 2)
        for name in ("m.f", "m.g"):
            entry, exit_ = self.one(events, "func_entry", name), self.one(events, "func_exit", name)
            self.assertEqual(exit_["span_id"], entry["span_id"])
            self.assertEqual(exit_["error"], "KeyError: missing")
            self.assertEqual(exit_["results"], [])
        self.assertIsNone(self.one(events, "var_assign", "<module>")["span_id"])  # popped by func_error

    def test_decorator_sync_and_exceptions(self):
        events, out = self.run_py(
            """
            import inspect, traceback
            class CartError(Exception): pass
            class Cart:
                @tel.instrument("Cart.total", "cart.py", 5)
                def total(self, prices, *, discount=0, **opts):
                    "Sum."
                    return sum(prices) - discount
                @staticmethod
                @tel.instrument("Cart.make", "cart.py", 9)
                def make(n):
                    return n
                @classmethod
                @tel.instrument("Cart.kind", "cart.py", 12)
                def kind(cls, a, b=2, /, c=3):
                    return cls.__name__
            @tel.instrument("cart.fail", "cart.py", 20)
            def fail(x):
                global RAISE_LINE
                RAISE_LINE = sys._getframe().f_lineno + 1
                raise CartError("nope")
            @tel.instrument("cart.closure", "cart.py", 23)
            def closure(a, b):
                return (lambda: a + b)()           # parameters that are also cells
            assert closure(1, b=2) == 3
            @tel.instrument("cart.leave", "cart.py", 25)
            def leave():
                raise SystemExit(0)
            c = Cart()
            assert c.total([1, 2, 3], discount=1, note="x") == 5
            assert Cart.make(4) == 4
            assert Cart.kind(1) == "Cart"
            res = {}
            try:
                fail([1])
            except CartError as e:
                tb = traceback.extract_tb(e.__traceback__)
                res["fail"] = [tb[-1].name, tb[-1].lineno == RAISE_LINE, e.args]
            try:
                leave()
            except SystemExit as e:
                res["exit"] = e.code
            t = Cart.total
            res["meta"] = [t.__name__, t.__qualname__, t.__doc__, str(inspect.signature(t)),
                           inspect.isgeneratorfunction(t), inspect.iscoroutinefunction(t),
                           hasattr(t, "__wrapped__")]
            OUT(res)
            """
        )
        self.assertEqual(out["fail"], ["fail", True, ["nope"]])
        self.assertEqual(out["exit"], 0)
        self.assertEqual(out["meta"], ["total", "Cart.total", "Sum.", "(self, prices, *, discount=0, **opts)", False, False, True])
        e = self.one(events, "func_entry", "Cart.total")
        self.assertEqual(e["args"], {"self": "<Cart>", "prices": "<list len=3>", "discount": 1, "opts": "<dict len=1>"})
        self.assertEqual(self.one(events, "func_exit", "Cart.total")["results"], [5])
        self.assertEqual(self.one(events, "func_entry", "Cart.make")["args"], {"n": 4})
        self.assertEqual(self.one(events, "func_entry", "Cart.kind")["args"], {"cls": "<class Cart>", "a": 1, "b": 2, "c": 3})
        self.assertEqual(self.one(events, "func_exit", "cart.fail")["error"], "__main__.CartError: nope")
        self.assertEqual(self.one(events, "func_entry", "cart.closure")["args"], {"a": 1, "b": 2})
        self.assertEqual(self.one(events, "func_exit", "cart.leave")["error"], "SystemExit")

    def test_span_context_manager(self):
        events, out = self.run_py(
            """
            import traceback
            class Boom(Exception): pass
            with tel.span("m.outer", "m.py", 1, {"a": 1}) as s:
                with tel.span("m.inner", "m.py", 2) as t:
                    tel.loop_iter("m.inner", "m.py", 3)
                    assert t.result("r") == "r"
                assert s.result(None) is None
            exc = Boom("b")
            try:
                with tel.span("m.fail", "m.py", 4):
                    global RAISE_LINE
                    RAISE_LINE = sys._getframe().f_lineno + 1
                    raise exc
            except Boom as e:
                tb = traceback.extract_tb(e.__traceback__)
                OUT([e is exc, tb[-1].lineno == RAISE_LINE, len(tb)])
            tel.var_assign("<module>", "m.py", 5, "v", 1)
            """
        )
        self.assertEqual(out, [True, True, 1])
        oe, ie, li, ix, ox = events[:5]
        self.assertEqual((oe["code.function.name"], oe["args"]), ("m.outer", {"a": 1}))
        self.assertEqual(ie["parent_span_id"], oe["span_id"])
        self.assertEqual(li["span_id"], ie["span_id"])
        self.assertEqual((ix["span_id"], ix["results"]), (ie["span_id"], ["r"]))
        self.assertEqual((ox["span_id"], ox["results"]), (oe["span_id"], []))
        fx = self.one(events, "func_exit", "m.fail")
        self.assertEqual(fx["error"], "__main__.Boom: b")
        self.assertIsNone(self.one(events, "var_assign", "<module>")["span_id"])


class TestGenerators(Scenario):
    def test_generator_decorator(self):
        events, out = self.run_py(
            """
            import inspect
            @tel.instrument("m.child", "m.py", 1)
            def child(i):
                return i * 10
            @tel.instrument("m.gen", "m.py", 2)
            def gen(n):
                total = 0
                for i in range(n):
                    total += child(i)
                    yield i
                return total
            @tel.instrument("m.closed", "m.py", 3)
            def closed():
                try:
                    yield 1
                    yield 2
                finally:
                    OUT_FINALLY.append(1)
            @tel.instrument("m.raiser", "m.py", 4)
            def raiser():
                yield 1
                raise ValueError("gen failed")
            @tel.instrument("m.echo", "m.py", 5)
            def echo():
                got = []
                while True:
                    try:
                        x = yield len(got)
                    except KeyError:
                        got.append("thrown")
                        continue
                    if x is None:
                        return got
                    got.append(x)
            @tel.instrument("m.never", "m.py", 6)
            def never():
                yield 1
            @tel.instrument("m.gced", "m.py", 7)
            def gced():
                yield 1
                yield 2
            @tel.instrument("m.delegator", "m.py", 8)
            def delegator():
                r = yield from gen(1)
                return r
            OUT_FINALLY = []
            res = {}
            outer = tel.func_entry("m.consumer", "m.py", 100)
            g = gen(3)
            items = []
            for v in g:
                tel.var_assign("m.consumer", "m.py", 101, "v", v)  # runs between yields
                items.append(v)
            res["items"] = items
            c = closed()
            res["first"] = next(c)
            c.close()
            res["finally"] = OUT_FINALLY
            r = raiser()
            next(r)
            try:
                next(r)
            except ValueError as e:
                res["raised"] = str(e)
            e = echo()
            res["echo"] = [next(e), e.send("a"), e.throw(KeyError), e.send("b")]
            try:
                e.send(None)
            except StopIteration as st:
                res["echo_result"] = st.value
            def plain():  # a span inside an undecorated generator that is closed early
                with tel.span("m.inside", "m.py", 9):
                    yield 1
                    yield 2
            p = plain()
            next(p)
            p.close()
            n = never()
            del n
            g2 = gced()
            next(g2)
            del g2
            gc.collect()
            res["delegated"] = list(delegator())
            tel.func_exit(outer)
            res["flags"] = [inspect.isgeneratorfunction(gen), inspect.isgeneratorfunction(closed),
                            inspect.iscoroutinefunction(gen), gen.__name__]
            OUT(res)
            """
        )
        self.assertEqual(out["items"], [0, 1, 2])
        self.assertEqual(out["first"], 1)
        self.assertEqual(out["finally"], [1])
        self.assertEqual(out["raised"], "gen failed")
        self.assertEqual(out["echo"], [0, 1, 2, 3])
        self.assertEqual(out["echo_result"], ["a", "thrown", "b"])
        self.assertEqual(out["delegated"], [0])
        self.assertEqual(out["flags"], [True, True, False, "gen"])

        consumer = self.one(events, "func_entry", "m.consumer")
        gens = self.by_kind(events, "func_entry", "m.gen")
        self.assertEqual(len(gens), 2)
        ge = gens[0]
        self.assertEqual(ge["args"], {"n": 3})
        self.assertEqual(ge["parent_span_id"], consumer["span_id"])
        gx = [e for e in self.by_kind(events, "func_exit", "m.gen") if e["span_id"] == ge["span_id"]]
        self.assertEqual(len(gx), 1)
        self.assertEqual(gx[0]["results"], [30])  # the generator's return value
        self.assertNotIn("error", gx[0])
        # Calls made by the generator body are children of the generator's span ...
        children = [e for e in self.by_kind(events, "func_entry", "m.child") if e["args"]["i"] in (0, 1, 2)][:3]
        self.assertEqual([c["parent_span_id"] for c in children], [ge["span_id"]] * 3)
        # ... while the consumer, between yields, is back in its own span.
        for v in self.by_kind(events, "var_assign", "m.consumer"):
            self.assertEqual(v["span_id"], consumer["span_id"])
        # The exit comes after the last item was consumed.
        idx = events.index(gx[0])
        last_v = max(i for i, e in enumerate(events) if e["kind"] == "var_assign")
        self.assertGreater(idx, last_v)

        cx = self.one(events, "func_exit", "m.closed")
        self.assertEqual((cx["results"], "error" in cx), ([], False))
        rx = self.one(events, "func_exit", "m.raiser")
        self.assertEqual(rx["error"], "ValueError: gen failed")
        self.assertEqual(self.one(events, "func_exit", "m.echo")["results"], ["<list len=3>"])
        self.assertEqual(self.by_kind(events, "func_entry", "m.never"), [])
        self.assertEqual(self.by_kind(events, "func_exit", "m.never"), [])
        self.assertNotIn("error", self.one(events, "func_exit", "m.inside"))  # closing is no failure
        gcx = self.one(events, "func_exit", "m.gced")
        self.assertNotIn("error", gcx)
        de = self.one(events, "func_entry", "m.delegator")
        self.assertEqual(gens[1]["parent_span_id"], de["span_id"])
        self.assertEqual(self.one(events, "func_exit", "m.delegator")["results"], [0])
        # every entry has exactly one exit
        self.assertEqual(sorted(e["span_id"] for e in self.by_kind(events, "func_entry")),
                         sorted(e["span_id"] for e in self.by_kind(events, "func_exit")))


class TestAsync(Scenario):
    def test_coroutines_and_tasks(self):
        events, out = self.run_py(
            """
            import asyncio, inspect, traceback
            @tel.instrument("m.leaf", "m.py", 1)
            def leaf(tag):
                tel.var_assign("m.leaf", "m.py", 2, "tag", tag)
                return tag
            @tel.instrument("m.work", "m.py", 3)
            async def work(tag, rounds):
                for i in range(rounds):
                    await asyncio.sleep(0)
                    leaf(tag)
                    tel.loop_iter("m.work", "m.py", 4)
                return tag * 2
            @tel.instrument("m.bad", "m.py", 5)
            async def bad():
                await asyncio.sleep(0)
                global RAISE_LINE
                RAISE_LINE = sys._getframe().f_lineno + 1
                raise LookupError("async")
            @tel.instrument("m.main", "m.py", 6)
            async def main():
                a = asyncio.ensure_future(work("a", 5))
                b = asyncio.ensure_future(work("b", 5))
                a.set_name("alpha"); b.set_name("beta")
                res = await asyncio.gather(a, b)
                try:
                    await bad()
                except LookupError as e:
                    tb = traceback.extract_tb(e.__traceback__)
                    res.append([tb[-1].name, tb[-1].lineno == RAISE_LINE])
                return res
            res = asyncio.run(main())
            OUT([res, inspect.iscoroutinefunction(work), asyncio.iscoroutinefunction(work),
                 inspect.isgeneratorfunction(work)])
            """
        )
        self.assertEqual(out, [["aa", "bb", ["bad", True]], True, True, False])
        main = self.one(events, "func_entry", "m.main")
        works = {e["args"]["tag"]: e for e in self.by_kind(events, "func_entry", "m.work")}
        for tag, task in (("a", "alpha"), ("b", "beta")):
            w = works[tag]
            # a task starts from a copy of its creator's context (contextvars)
            self.assertEqual(w["parent_span_id"], main["span_id"])
            self.assertTrue(w["thread"].endswith("/task-" + task), w["thread"])
            leaves = [e for e in self.by_kind(events, "func_entry", "m.leaf") if e["args"]["tag"] == tag]
            self.assertEqual(len(leaves), 5)
            for l in leaves:
                self.assertEqual(l["parent_span_id"], w["span_id"])  # never the other task's span
                self.assertEqual(l["thread"], w["thread"])
            loops = [e for e in self.by_kind(events, "loop_iter") if e["thread"] == w["thread"]]
            self.assertEqual([l["span_id"] for l in loops], [w["span_id"]] * 5)
            wx = [e for e in self.by_kind(events, "func_exit", "m.work") if e["span_id"] == w["span_id"]]
            self.assertEqual(wx[0]["results"], [tag * 2])
        # the two tasks really interleaved
        order = [e["args"]["tag"] for e in self.by_kind(events, "func_entry", "m.leaf")]
        self.assertNotEqual(order, sorted(order))
        self.assertEqual(self.one(events, "func_exit", "m.bad")["error"], "LookupError: async")
        self.assertEqual(self.one(events, "func_exit", "m.main")["results"], ["<list len=3>"])

    def test_async_generators(self):
        events, out = self.run_py(
            """
            import asyncio, inspect
            @tel.instrument("m.child", "m.py", 1)
            async def child(i):
                await asyncio.sleep(0)
                return i
            @tel.instrument("m.agen", "m.py", 2)
            async def agen(n):
                for i in range(n):
                    yield await child(i)
            @tel.instrument("m.aclosed", "m.py", 3)
            async def aclosed():
                try:
                    yield 1
                    yield 2
                finally:
                    await asyncio.sleep(0)
                    FIN.append(1)
            @tel.instrument("m.araiser", "m.py", 4)
            async def araiser():
                yield 1
                raise ValueError("agen failed")
            @tel.instrument("m.aecho", "m.py", 5)
            async def aecho():
                n = 0
                while True:
                    try:
                        x = yield n
                    except KeyError:
                        x = 100
                    n += x
            FIN = []
            async def main():
                outer = tel.func_entry("m.consumer", "m.py", 100)
                res = {}
                items = []
                async for v in agen(3):
                    tel.var_assign("m.consumer", "m.py", 101, "v", v)
                    items.append(v)
                res["items"] = items
                c = aclosed()
                res["first"] = await c.__anext__()
                await c.aclose()
                res["fin"] = FIN
                r = araiser()
                await r.__anext__()
                try:
                    await r.__anext__()
                except ValueError as e:
                    res["raised"] = str(e)
                e = aecho()
                res["echo"] = [await e.__anext__(), await e.asend(5), await e.athrow(KeyError)]
                await e.aclose()
                tel.func_exit(outer)
                return res
            res = asyncio.run(main())
            res["flags"] = [inspect.isasyncgenfunction(agen), inspect.iscoroutinefunction(agen),
                            inspect.isgeneratorfunction(agen), agen.__name__]
            OUT(res)
            """
        )
        self.assertEqual(out["items"], [0, 1, 2])
        self.assertEqual(out["first"], 1)
        self.assertEqual(out["fin"], [1])
        self.assertEqual(out["raised"], "agen failed")
        self.assertEqual(out["echo"], [0, 5, 105])
        self.assertEqual(out["flags"], [True, False, False, "agen"])
        consumer = self.one(events, "func_entry", "m.consumer")
        ge = self.one(events, "func_entry", "m.agen")
        self.assertEqual(ge["parent_span_id"], consumer["span_id"])
        for c in self.by_kind(events, "func_entry", "m.child"):
            self.assertEqual(c["parent_span_id"], ge["span_id"])
        for v in self.by_kind(events, "var_assign", "m.consumer"):
            self.assertEqual(v["span_id"], consumer["span_id"])
        gx = self.one(events, "func_exit", "m.agen")
        self.assertEqual((gx["span_id"], gx["results"], "error" in gx), (ge["span_id"], [], False))
        cx = self.one(events, "func_exit", "m.aclosed")
        self.assertEqual((cx["results"], "error" in cx), ([], False))
        self.assertEqual(self.one(events, "func_exit", "m.araiser")["error"], "ValueError: agen failed")
        self.assertNotIn("error", self.one(events, "func_exit", "m.aecho"))


class TestConcurrency(Scenario):
    def test_threads_lines_whole_and_parents_independent(self):
        n_threads, per_thread = 20, 200
        events, out = self.run_py(
            """
            import threading
            sys.setswitchinterval(1e-6)  # switch threads as often as possible
            N, PER = %d, %d
            barrier = threading.Barrier(N)
            big = "\\u00e9" * 300   # long, non-ASCII: long lines make interleaving visible
            idents = []
            def worker(k):
                idents.append(threading.get_ident())
                barrier.wait()
                span = tel.func_entry("m.worker", "m.py", 1, {"k": k})
                for i in range((PER - 2) // 2):
                    tel.loop_iter("m.worker", "m.py", 2)
                    tel.var_assign("m.worker", "m.py", 3, "big", big)
                tel.func_exit(span, k)
            ts = [threading.Thread(target=worker, args=(k,)) for k in range(N)]
            for t in ts: t.start()
            for t in ts: t.join()
            OUT(idents)
            """
            % (n_threads, per_thread),
            env={"TELEMETRY_SAMPLE_FIRST": "1000000000"},
        )
        self.assertEqual(len(events), n_threads * per_thread)  # exact count, every line parsed
        by_thread = {}
        for e in events:
            by_thread.setdefault(e["thread"], []).append(e)
        self.assertEqual(len(by_thread), n_threads)
        self.assertEqual(set(by_thread), {"thread-%d" % i for i in out})
        for thread, evs in by_thread.items():
            self.assertEqual(len(evs), per_thread)
            entry = evs[0]
            self.assertEqual(entry["kind"], "func_entry")
            self.assertIsNone(entry["parent_span_id"])  # no parent leaks across threads
            self.assertEqual(evs[-1]["kind"], "func_exit")
            self.assertEqual(evs[-1]["results"], [entry["args"]["k"]])
            for e in evs:
                self.assertEqual(e["span_id"], entry["span_id"])
            for e in self.by_kind(evs, "var_assign"):
                self.assertEqual(e["value"], "\u00e9" * 256 + "\u2026")
        # the per-site counter is exact under contention
        its = sorted(e["iteration"] for e in self.by_kind(events, "loop_iter"))
        self.assertEqual(its, list(range(1, n_threads * (per_thread - 2) // 2 + 1)))

    def test_processes_append_whole_lines_and_fork_resets(self):
        events, out = self.run_py(
            """
            import subprocess, time
            code = ("import os, time\\n"
                    "from _teleforge_tel import tel\\n"
                    "tel.loop_iter('m.p', 'm.py', 0)\\n"          # opens the file before the race
                    "t = time.time() + 60\\n"
                    "while not os.path.exists('go') and time.time() < t: pass\\n"
                    "for i in range(2500): tel.var_assign('m.p', 'm.py', 1, 'x', 'y' * 250)\\n")
            ps = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(4)]
            time.sleep(0.3)
            open("go", "w").close()
            for p in ps: assert p.wait() == 0
            for i in range(150):
                tel.loop_iter("m.parent", "m.py", 2)
            span = tel.func_entry("m.forker", "m.py", 3)
            pid = os.fork()
            if pid == 0:
                tel.loop_iter("m.child", "m.py", 2)      # same site: fresh counter per process
                s = tel.func_entry("m.inchild", "m.py", 4)
                tel.func_exit(s)
                os._exit(0)                           # flushes the child's buffer
            _, status = os.waitpid(pid, 0)
            assert status == 0
            tel.func_exit(span)
            OUT({"child": pid, "parent": os.getpid()})
            """,
            env={"TELEMETRY_SAMPLE_FIRST": "1000000000"},
        )
        pvals = self.by_kind(events, "var_assign", "m.p")
        self.assertEqual(len(pvals), 10000)
        self.assertEqual(len({e["pid"] for e in pvals}), 4)
        child_loop = self.one(events, "loop_iter", "m.child")
        self.assertEqual((child_loop["pid"], child_loop["iteration"]), (out["child"], 1))
        fe = self.one(events, "func_entry", "m.forker")
        ce = self.one(events, "func_entry", "m.inchild")
        self.assertEqual(ce["pid"], out["child"])
        self.assertEqual(ce["parent_span_id"], fe["span_id"])  # context carried over the fork
        self.assertEqual(self.one(events, "func_exit", "m.inchild")["span_id"], ce["span_id"])
        ids = [e["span_id"] for e in self.by_kind(events, "func_entry")]
        self.assertEqual(len(ids), len(set(ids)))


class TestBuffering(Scenario):
    """Events go to a per-process buffer: no system call per event, whole lines, and the
    exit paths that docs/TELEMETRY.md promises."""

    def run_raw(self, code, env=None, expect_rc=0):
        e = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
        e.update({"PYTHONPATH": HERE, "PYTHONDONTWRITEBYTECODE": "1", "TF_OUT": self.out_path})
        e["TELEMETRY_FILE"] = self.events_path
        e["TELEMETRY_SAMPLE_FIRST"] = "1000000000"
        e.update(env or {})
        p = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)], cwd=self.tmp, env=e,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(p.returncode, expect_rc, p.stderr.decode(errors="replace"))
        self.assertEqual(p.stdout, b"")
        return p, (self.parse(self.events_path) if os.path.exists(self.events_path) else [])

    RECORD = """
        import threading
        def work(tag, n):
            for i in range(n):
                s = tel.func_entry("m." + tag, "m.py", 1, {"i": i})
                tel.loop_iter("m." + tag, "m.py", 2)
                tel.func_exit(s, i)
        t = threading.Thread(target=work, args=("thread", 300))
        t.start(); t.join()
        work("main", 300)
    """

    def check_all(self, events, tags=("thread", "main")):
        for tag in tags:
            self.assertEqual(len(self.by_kind(events, "func_entry", "m." + tag)), 300, tag)
            self.assertEqual(len(self.by_kind(events, "func_exit", "m." + tag)), 300, tag)
            self.assertEqual(len(self.by_kind(events, "loop_iter", "m." + tag)), 300, tag)

    def test_events_survive_every_normal_exit_path(self):
        for tail, rc in (
            ("", 0),
            ("sys.exit(3)", 3),
            ("raise RuntimeError('boom')", 1),
            ("os._exit(4)", 4),
            ("import threading\nthreading.Thread(target=lambda: os._exit(5)).start()\nimport time; time.sleep(5)", 5),
        ):
            with self.subTest(tail=tail):
                if os.path.exists(self.events_path):
                    os.remove(self.events_path)
                p, events = self.run_raw(textwrap.dedent(self.RECORD) + "\n" + tail, expect_rc=rc)
                self.check_all(events)
                if rc == 1:
                    self.assertIn(b"RuntimeError: boom", p.stderr)

    def test_atexit_handlers_and_daemon_threads_after_the_exit_flush(self):
        _, events = self.run_raw(
            """
            import atexit
            atexit.register(lambda: tel.loop_iter("m.late", "m.py", 9))  # runs after ours (LIFO)
            tel.loop_iter("m.early", "m.py", 8)
            """
        )
        self.assertEqual([e["code.function.name"] for e in events], ["m.early", "m.late"])

    def test_forked_children_multiprocessing_and_hard_kill(self):
        _, events = self.run_raw(
            """
            import multiprocessing, signal, time
            def child(k):
                for i in range(200):
                    tel.var_assign("m.child", "m.py", 3, "k", k)
            tel.loop_iter("m.parent", "m.py", 4)
            ctx = multiprocessing.get_context("fork")
            ps = [ctx.Process(target=child, args=(k,)) for k in range(3)]   # children end in os._exit
            for p in ps: p.start()
            for p in ps: p.join(); assert p.exitcode == 0
            pid = os.fork()
            if pid == 0:
                for i in range(100):
                    tel.loop_iter("m.killed", "m.py", 5)
                time.sleep(1.0)                  # several timed flushes: these 100 are written
                tel.loop_iter("m.killed", "m.py", 6)
                os.kill(os.getpid(), signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            assert os.WIFSIGNALED(status)
            """
        )
        self.assertEqual(len(self.by_kind(events, "var_assign", "m.child")), 600)
        self.assertEqual(len({e["pid"] for e in self.by_kind(events, "var_assign", "m.child")}), 3)
        self.assertEqual(len([e for e in events if e["code.line.number"] == 5]), 100)
        self.assertEqual(len(self.by_kind(events, "loop_iter", "m.parent")), 1)  # written once, not per child

    def test_flusher_thread_is_invisible_to_threading(self):
        _, events = self.run_raw(
            """
            import threading
            before = (threading.active_count(), [t.name for t in threading.enumerate()])
            tel.loop_iter("m.f", "m.py", 1)     # switches telemetry on: the flusher starts
            import time; time.sleep(0.3)
            OUT([before, (threading.active_count(), [t.name for t in threading.enumerate()])])
            """
        )
        with open(self.out_path) as f:
            before, after = json.load(f)
        self.assertEqual(before, after)
        self.assertEqual(len(events), 1)

    def test_relative_path_survives_chdir(self):
        os.mkdir(os.path.join(self.tmp, "elsewhere"))
        self.run_raw(
            """
            tel.loop_iter("m.f", "m.py", 1)
            os.chdir("elsewhere")
            for i in range(10):
                tel.loop_iter("m.f", "m.py", 1)
            """,
            env={"TELEMETRY_FILE": "events.jsonl"},
        )
        self.assertEqual(len(self.parse(self.events_path)), 11)
        self.assertEqual(os.listdir(os.path.join(self.tmp, "elsewhere")), [])

    def test_no_system_call_per_event(self):
        self.run_raw(
            """
            import time, _teleforge_tel as m
            calls = []
            real = os.write
            def counting(fd, data):
                calls.append(len(data))
                return real(fd, data)
            tel.loop_iter("m.f", "m.py", 1)
            os.write = counting
            t0 = time.monotonic()
            for i in range(20000):
                tel.var_assign("m.f", "m.py", 2, "i", i)
            elapsed = time.monotonic() - t0
            os.write = real
            OUT([len(calls), elapsed])
            """
        )
        with open(self.out_path) as f:
            writes, elapsed = json.load(f)
        # one write per 512 lines (size) plus one per 0.2 s (time), never one per event
        self.assertLessEqual(writes, 20000 // 512 + int(elapsed / 0.2) + 3)

    INTERLEAVE = """
        import threading
        N = 100
        done = []
        def callback(i):
            s = tel.func_entry("m.callback", "m.py", 1, {"i": i})
            tel.var_assign("m.callback", "m.py", 2, "i", i)
            done.append(i)
            tel.func_exit(s)
        def worker():
            for i in range(N):
                tel.loop_iter("m.worker", "m.py", 3)
                callback(i)
        tel.loop_iter("m.main", "m.py", 4)
        seen = []
        for rep in range(20):
            del done[:]
            t = threading.Thread(target=worker)
            t.start()
            seen.append(len(done))   # how far the worker got when the main thread looks
            t.join()
        OUT(seen)
    """

    def test_thread_interleaving_is_the_same_with_telemetry_on_and_off(self):
        # A worker that runs its callbacks within one GIL switch interval finishes them before the
        # main thread looks (what issue 13's package test relies on). A system call per event
        # hands the GIL over at every event, and the main thread then sees a partial result.
        _, off = self.run_py(self.INTERLEAVE, enabled=False)
        _, on = self.run_py(self.INTERLEAVE, env={"TELEMETRY_SAMPLE_FIRST": "1000000000"})
        self.assertGreaterEqual(off.count(100), 17, off)  # the machine lets the worker finish
        self.assertGreaterEqual(on.count(100), 17, "telemetry changed the interleaving: %r vs %r" % (on, off))

    def test_disabled_imports_starts_and_opens_nothing(self):
        code = (
            "import sys; sys.path.insert(0, %r)\n"
            "def state():\n"
            "    import posix\n"
            "    return set(sys.modules), len(posix.listdir('/proc/self/task')), len(posix.listdir('/proc/self/fd'))\n"
            "m0, t0, f0 = state()\n"
            "import _teleforge_tel\n"
            "tel = _teleforge_tel.tel\n"
            "s = tel.func_entry('m.f', 'm.py', 1, {'a': 1}); tel.func_exit(s, 2)\n"
            "tel.loop_iter('m.f', 'm.py', 2); tel.var_assign('m.f', 'm.py', 3, 'x', 1)\n"
            "tel.instrument('m.g', 'm.py', 4)(len)\n"
            "m1, t1, f1 = state()\n"
            "sys.stderr.write(repr((sorted(m1 - m0), t1 - t0, f1 - f0)))\n" % HERE
        )
        e = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
        for extra in ({}, {"TELEMETRY_FILE": ""}):
            e.update(extra)
            p = subprocess.run([sys.executable, "-S", "-c", code], env=e, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr.decode(), "(['_teleforge_tel'], 0, 0)")


class TestSampling(Scenario):
    LOOP = """
        for i in range(100000):
            tel.loop_iter("m.hot", "m.py", 7)
    """

    @staticmethod
    def expected(first, n=100000):
        return [i for i in range(1, n + 1) if i <= first or (i & (i - 1)) == 0]

    def test_default_first_100(self):
        events, _ = self.run_py(self.LOOP)
        want = list(range(1, 101)) + [2**k for k in range(7, 17)]
        self.assertEqual(want, self.expected(100))
        self.assertEqual(len(events), 100 + 10)
        self.assertEqual([e["iteration"] for e in events], want)

    def test_sample_first_override(self):
        for value, first in (("5", 5), ("0", 0), ("1000", 1000), ("junk", 100), ("-3", 100)):
            events, _ = self.run_py(self.LOOP, env={"TELEMETRY_SAMPLE_FIRST": value})
            self.assertEqual([e["iteration"] for e in events], self.expected(first), value)
            os.unlink(self.events_path)
        self.assertEqual(len(self.expected(5)), 5 + 14)

    def test_exit_written_exactly_when_entry_was(self):
        events, out = self.run_py(
            """
            @tel.instrument("m.deco", "m.py", 1)
            def deco(i):
                return i
            def explicit(i):
                s = tel.func_entry("m.explicit", "m.py", 2, {"i": i})
                return tel.func_exit(s, i)
            @tel.instrument("m.gen", "m.py", 3)
            def gen(i):
                yield i
            total = 0
            for i in range(1000):
                total += deco(i) + explicit(i) + sum(gen(i))
                with tel.span("m.span", "m.py", 4) as s:
                    s.result(i)
            OUT(total)
            """
        )
        self.assertEqual(out, 3 * sum(range(1000)))
        want = self.expected(100, 1000)
        self.assertEqual(len(want), 103)
        for name in ("m.deco", "m.explicit", "m.gen", "m.span"):
            entries = self.by_kind(events, "func_entry", name)
            exits = self.by_kind(events, "func_exit", name)
            self.assertEqual(len(entries), 103, name)
            self.assertEqual([e["span_id"] for e in entries], [e["span_id"] for e in exits], name)
            if name != "m.span":
                self.assertEqual([e["args"]["i"] + 1 for e in entries], want, name)
                results = [e["results"] for e in exits]
                if name == "m.gen":  # a generator's result is its return value: none here
                    self.assertEqual(results, [[]] * 103)
                else:
                    self.assertEqual([r[0] + 1 for r in results], want, name)

    def test_sites_keyed_by_kind_file_line(self):
        # a loop and an assignment on one line are two sites; so are two variables
        events, _ = self.run_py(
            """
            for i in range(300):
                tel.loop_iter("m.f", "m.py", 9); tel.var_assign("m.f", "m.py", 9, "a", i); tel.var_assign("m.f", "m.py", 9, "b", i)
            for i in range(10):
                tel.loop_iter("m.f", "other.py", 9)
            """
        )
        want = self.expected(100, 300)
        self.assertEqual([e["iteration"] for e in self.by_kind(events, "loop_iter") if e["code.file.path"] == "m.py"], want)
        for var in ("a", "b"):
            self.assertEqual([e["value"] + 1 for e in self.by_kind(events, "var_assign") if e["variable"] == var], want)
        self.assertEqual([e["iteration"] for e in self.by_kind(events, "loop_iter") if e["code.file.path"] == "other.py"],
                         list(range(1, 11)))


class TestValues(Scenario):
    def test_values_rendered_without_user_code(self):
        events, out = self.run_py(
            """
            import enum
            CALLS = []
            class Meta(type):
                def __hash__(cls): CALLS.append("meta hash"); raise RuntimeError
                def __eq__(cls, o): CALLS.append("meta eq"); raise RuntimeError
                def __repr__(cls): CALLS.append("meta repr"); raise RuntimeError
                @property
                def __name__(cls): CALLS.append("meta name"); raise RuntimeError
            class Evil(metaclass=Meta):
                def __repr__(self): CALLS.append("repr"); raise RuntimeError
                def __str__(self): CALLS.append("str"); raise RuntimeError
                def __len__(self): CALLS.append("len"); raise RuntimeError
                def __eq__(self, o): CALLS.append("eq"); raise RuntimeError
                def __hash__(self): CALLS.append("hash"); raise RuntimeError
                def __bool__(self): CALLS.append("bool"); raise RuntimeError
                def __format__(self, spec): CALLS.append("format"); raise RuntimeError
                def __iter__(self): CALLS.append("iter"); raise RuntimeError
                @property
                def __class__(self): CALLS.append("class"); raise RuntimeError
                def __getattr__(self, n): CALLS.append("getattr " + n); raise RuntimeError
            class EvilList(list):
                def __len__(self): CALLS.append("list len"); raise RuntimeError
                def __repr__(self): CALLS.append("list repr"); raise RuntimeError
            class EvilStr(str):
                def __str__(self): CALLS.append("str str"); raise RuntimeError
                def __len__(self): CALLS.append("str len"); raise RuntimeError
            class EvilInt(int):
                def __repr__(self): CALLS.append("int repr"); raise RuntimeError
                def __index__(self): CALLS.append("int index"); raise RuntimeError
            class EvilFloat(float):
                def __repr__(self): CALLS.append("float repr"); raise RuntimeError
            class Color(enum.IntEnum):
                RED = 1
            class EvilError(Exception):
                def __str__(self): CALLS.append("exc str"); raise RuntimeError
                def __repr__(self): CALLS.append("exc repr"); raise RuntimeError
                @property
                def args(self): CALLS.append("exc args"); raise RuntimeError
            def add(a, b): return a + b
            values = [None, True, False, 0, -7, 2**53, -(2**53), 2**53 + 1, -(2**53) - 1, 10**5000,
                      1.5, -0.25, float("inf"), float("-inf"), float("nan"),
                      "plain", "x" * 256, "y" * 300, "\\u00e9\\u4e2d\\ud800", "",
                      [1, 2, 3], (1,), {"a": 1}, {1, 2}, frozenset(), b"abc", bytearray(2),
                      Evil(), EvilList([1, 2]), EvilStr("s"), EvilInt(3), EvilFloat(2.0), Color.RED,
                      add, len, Evil, int, object()]
            for i, v in enumerate(values):
                assert tel.var_assign("m.f", "m.py", 1, "v%d" % i, v) is v
            e = Evil()
            s = tel.func_entry("m.g", "m.py", 2, {"self": e, "n": 1})
            assert tel.func_exit(s, e) is e
            @tel.instrument("m.h", "m.py", 3)
            def h(obj, *rest, **kw):
                return obj
            assert h(e, e, k=e) is e
            err = EvilError("secret")
            s = tel.func_entry("m.err", "m.py", 4)
            assert tel.func_error(s, err) is err
            with tel.span("m.span", "m.py", 5, {"e": e}) as sp:
                sp.result(e)
            OUT(CALLS)
            """
        )
        self.assertEqual(out, [], "user code was called while rendering")
        got = [e["value"] for e in self.by_kind(events, "var_assign")]
        big = got[9]
        self.assertIsInstance(big, str)
        self.assertTrue(big.startswith("<int bits=") or (big[:5].isdigit() and big.endswith("\u2026")), big)
        self.assertLessEqual(len(big), 257)
        want = [None, True, False, 0, -7, 2**53, -(2**53), str(2**53 + 1), str(-(2**53) - 1), big,
                1.5, -0.25, "inf", "-inf", "nan",
                "plain", "x" * 256, "y" * 256 + "\u2026", "\u00e9\u4e2d\ud800", "",
                "<list len=3>", "<tuple len=1>", "<dict len=1>", "<set len=2>", "<frozenset len=0>",
                "<bytes len=3>", "<bytearray len=2>",
                "<Evil>", "<EvilList>", "<EvilStr>", "<EvilInt>", "<EvilFloat>", "<Color>",
                "<function add>", "<function len>", "<class Evil>", "<class int>", "<object>"]
        self.assertEqual(got, want)
        self.assertIs(got[1], True)  # JSON types are exact
        self.assertIs(type(got[5]), int)
        self.assertEqual(self.one(events, "func_entry", "m.g")["args"], {"self": "<Evil>", "n": 1})
        self.assertEqual(self.one(events, "func_exit", "m.g")["results"], ["<Evil>"])
        self.assertEqual(self.one(events, "func_entry", "m.h")["args"],
                         {"obj": "<Evil>", "rest": "<tuple len=1>", "kw": "<dict len=1>"})
        self.assertEqual(self.one(events, "func_exit", "m.h")["results"], ["<Evil>"])
        self.assertEqual(self.one(events, "func_exit", "m.err")["error"], "__main__.EvilError: secret")
        self.assertEqual(self.one(events, "func_entry", "m.span")["args"], {"e": "<Evil>"})
        self.assertEqual(self.one(events, "func_exit", "m.span")["results"], ["<Evil>"])


class TestRobustness(Scenario):
    def test_closed_descriptor_reused_by_user_is_never_written(self):
        # The runtime holds no descriptor between writes: code that closes every descriptor and
        # reuses the numbers for its own files never gets telemetry in them, and telemetry goes on.
        events, out = self.run_py(
            """
            import time
            tel.loop_iter("m.f", "m.py", 1)
            os.closerange(3, 4096)                # user code closes every descriptor ...
            fds = [os.open("mine%d.txt" % i, os.O_WRONLY | os.O_CREAT | os.O_TRUNC) for i in range(8)]
            for i in range(5):
                tel.loop_iter("m.f", "m.py", 1)
                assert tel.var_assign("m.f", "m.py", 2, "x", i) == i
                s = tel.func_entry("m.g", "m.py", 3)
                assert tel.func_exit(s, 9) == 9
            time.sleep(0.5)                       # timed flushes happen while they are open
            for fd in fds: os.close(fd)
            OUT([os.path.getsize("mine%d.txt" % i) for i in range(8)])
            """
        )
        self.assertEqual(out, [0] * 8)
        self.assertEqual(len(events), 1 + 5 * 4)

    def test_bad_arguments_never_raise(self):
        events, out = self.run_py(
            """
            class X: pass
            s = tel.func_entry(X(), None, "nine", args=[1, 2])
            assert tel.func_exit(s, 1) == 1
            assert tel.func_exit(object(), 2) == 2
            assert tel.func_error(12, 3) == 3
            tel.loop_iter(1, 2, 3)
            assert tel.var_assign(None, None, None, None, 4) == 4
            assert tel.func_entry("m.f", "m.py", 5, {1: 1, None: 2, "k": 3}) is not None
            deco = tel.instrument("m.obj", "m.py", 6)
            obj = X()
            assert deco(obj) is obj                   # not a function: left alone
            OUT(True)
            """
        )
        self.assertTrue(out)
        e = self.by_kind(events, "func_entry")
        self.assertEqual(e[0]["args"], {})
        self.assertEqual(e[0]["code.function.name"], "<X>")
        self.assertEqual(e[-1]["args"], {"1": 1, "null": 2, "k": 3})

    def test_doctest_sees_no_output(self):
        body = """
            import doctest, types
            mod = types.ModuleType("docmod")
            mod.__doc__ = '''
            >>> from _teleforge_tel import tel
            >>> tel.loop_iter("docmod", "docmod.py", 1)
            >>> tel.var_assign("docmod", "docmod.py", 2, "x", 41) + 1
            42
            >>> s = tel.func_entry("docmod.f", "docmod.py", 3, {"a": 1})
            >>> tel.func_exit(s, "done")
            'done'
            >>> with tel.span("docmod.g", "docmod.py", 4) as sp:
            ...     sp.result(5)
            5
            '''
            r = doctest.testmod(mod, verbose=False, report=False)
            OUT([r.failed, r.attempted])
        """
        for enabled in (False, True):
            _, out = self.run_py(body, enabled=enabled)
            self.assertEqual(out, [0, 6])


if __name__ == "__main__":
    unittest.main()


class TestOnGuard(Scenario):
    """The inserted statements read `tel.on` before they call: false once telemetry is configured
    off, true while it is on, and present even when the process's first copy is older."""

    def test_on_turns_false_at_the_first_call_when_off_and_stays_true_when_on(self):
        body = """
            assert tel.on is True  # not decided before the first call
            tel.loop_iter("m.f", "m.py", 1)
            OUT({"on": tel.on})
        """
        _, out = self.run_py(body, enabled=False)
        self.assertEqual(out, {"on": False})
        _, out = self.run_py(body, enabled=True)
        self.assertEqual(out, {"on": True})

    def test_an_older_first_copy_gets_on_set_to_always_call(self):
        body = """
            import importlib.util, sys as s
            import _teleforge_tel
            class Old(object):
                __slots__ = ()
                def var_assign(self, name, file, line, variable, value):
                    return value
            s._teleforge_tel = Old()
            spec = importlib.util.spec_from_file_location("copy2", _teleforge_tel.__file__)
            m = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(m)
            assert m.tel is s._teleforge_tel
            OUT({"on": m.tel.on and m.tel.var_assign("m.f", "m.py", 1, "x", 5)})
        """
        _, out = self.run_py(body, enabled=False)
        self.assertEqual(out, {"on": 5})
