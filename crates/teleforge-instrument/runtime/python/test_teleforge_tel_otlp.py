"""Tests of the Python Tel runtime's direct OTLP/HTTP export (docs/TELEMETRY.md, "Direct OTLP
export from the runtimes"; _teleforge_tel.py, "OTLP export").

Run from this folder:
    python3 -m unittest -v test_teleforge_tel_otlp

Every scenario runs a child interpreter that uses the runtime as instrumented code does, with a
real OTLP/HTTP receiver (http.server on 127.0.0.1) in the test process. The spans that arrive are
compared with what the documented mapping makes of the events file the same run wrote
(TELEMETRY_FILE), and, when a built `teleforge` binary is found (TELEFORGE_BIN, or the workspace's
target/{release,debug}/teleforge), with `teleforge telemetry export` itself.
"""

import ast
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = os.path.join(HERE, "_teleforge_tel.py")
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))

PRELUDE = """\
import sys, os, json
from _teleforge_tel import tel
def OUT(obj):
    with open(os.environ["TF_OUT"], "w") as f:
        json.dump(obj, f)
"""


def teleforge_bin():
    cands = [os.environ.get("TELEFORGE_BIN")] + [
        os.path.join(ROOT, "target", p, "teleforge") for p in ("release", "debug")
    ]
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            try:
                p = subprocess.run([c, "telemetry", "export", "--help"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=60)
            except Exception:
                continue
            if p.returncode == 0:
                return c
    return None


class Receiver(object):
    """An OTLP/HTTP receiver: records every request; answers with the statuses of `script` in turn
    (then 200)."""

    def __init__(self, script=(), delay=0.0, tls=None):
        self.requests = []
        self.script = list(script)
        self.delay = delay
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                if rec.delay:
                    time.sleep(rec.delay)
                with rec.lock:
                    status = rec.script.pop(0) if rec.script else 200
                    rec.requests.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body, "status": status}
                    )
                out = b"{}" if status == 200 else b'{"code":14}'
                self.send_response(status)
                if status in (429, 503):
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        if tls:  # (certificate, key): an https receiver
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.url = "https://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def accepted(self):
        """Parsed bodies of the requests answered 2xx."""
        with self.lock:
            return [json.loads(r["body"].decode("utf-8")) for r in self.requests if r["status"] == 200]

    def spans(self):
        """[(resource attributes as a dict, scope, span)] of every accepted request."""
        out = []
        for req in self.accepted():
            for rs in req["resourceSpans"]:
                attrs = kv(rs["resource"]["attributes"])
                for ss in rs["scopeSpans"]:
                    for sp in ss["spans"]:
                        out.append((attrs, ss["scope"], sp))
        return out


def kv(attrs):
    return {a["key"]: a["value"] for a in attrs}


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------------------ the mapping, from the file
def anyvalue(v):
    if v is None:
        return {}
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": v}


def reference_spans(events):
    """docs/TELEMETRY.md "The mapping" (teleforge-otlp's assemble.rs) for one process's events:
    span id -> span without traceId, and span id -> the id of the root of its trace."""
    open_, done, root_of = {}, {}, {}
    for ev in events:
        k, sid = ev["kind"], ev["span_id"]
        code = [
            {"key": "code.function.name", "value": {"stringValue": ev["code.function.name"]}},
            {"key": "code.file.path", "value": {"stringValue": ev["code.file.path"]}},
            {"key": "code.line.number", "value": {"intValue": str(ev["code.line.number"])}},
        ]
        if k == "func_entry":
            p = ev["parent_span_id"]
            root_of[sid] = root_of.get(p, p) if p else sid
            sp = {"spanId": sid, "name": ev["code.function.name"], "kind": 1,
                  "startTimeUnixNano": str(ev["ts_unix_nano"]), "endTimeUnixNano": str(ev["ts_unix_nano"]),
                  "attributes": code + [{"key": "thread.name", "value": {"stringValue": ev["thread"]}}]
                  + [{"key": "teleforge.args." + a, "value": anyvalue(v)} for a, v in ev["args"].items()],
                  "events": []}
            if p:
                sp["parentSpanId"] = p
            open_[sid] = sp
        elif k == "func_exit":
            sp = open_.pop(sid)
            end = max(ev["ts_unix_nano"], int(sp["startTimeUnixNano"]))
            sp["endTimeUnixNano"] = str(end)
            sp["attributes"] += [{"key": "teleforge.results.%d" % i, "value": anyvalue(v)}
                                 for i, v in enumerate(ev["results"])]
            if "error" in ev:
                sp["events"].append({"timeUnixNano": str(end), "name": "exception", "attributes": [
                    {"key": "exception.message", "value": {"stringValue": ev["error"]}}]})
                sp["status"] = {"code": 2, "message": ev["error"]}
            done[sid] = sp
        elif sid in open_:
            extra = ([{"key": "teleforge.loop.iteration", "value": {"intValue": str(ev["iteration"])}}]
                     if k == "loop_iter" else
                     [{"key": "teleforge.variable.name", "value": {"stringValue": ev["variable"]}},
                      {"key": "teleforge.variable.value", "value": anyvalue(ev["value"])}])
            open_[sid]["events"].append({"timeUnixNano": str(ev["ts_unix_nano"]), "name": k,
                                         "attributes": code + extra})
    for sid, sp in open_.items():  # unfinished: the runtime ends them at the exit time
        sp["attributes"].append({"key": "teleforge.unfinished", "value": {"boolValue": True}})
        sp["unfinished"] = True
        done[sid] = sp
    for sp in done.values():
        if not sp["events"]:
            del sp["events"]
    return done, root_of


class Base(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tfotlp-")
        self.events_path = os.path.join(self.tmp, "events.jsonl")
        self.out_path = os.path.join(self.tmp, "out.json")
        self.rx = None

    def tearDown(self):
        if self.rx is not None:
            self.rx.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def receiver(self, **kw):
        self.rx = Receiver(**kw)
        return self.rx

    def env(self, endpoint=None, file=False, extra=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith(("TELEMETRY_", "OTEL_"))}
        e.update({"PYTHONPATH": HERE, "PYTHONDONTWRITEBYTECODE": "1", "TF_OUT": self.out_path})
        e.pop("PYTHONASYNCIODEBUG", None)
        if endpoint:
            e["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        if file:
            e["TELEMETRY_FILE"] = self.events_path
        e.update(extra or {})
        return e

    def run_py(self, body, env, expect_rc=0, timeout=120):
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)], cwd=self.tmp, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        p.elapsed = time.monotonic() - t0
        self.assertEqual(p.returncode, expect_rc, p.stderr.decode(errors="replace"))
        return p

    def quiet(self, p):
        self.assertEqual(p.stdout, b"")
        self.assertEqual(p.stderr, b"", p.stderr.decode(errors="replace"))

    def out(self):
        with open(self.out_path) as f:
            return json.load(f)

    def events(self):
        with open(self.events_path) as f:
            return [json.loads(l) for l in f]

    def by_id(self, spans):
        d = {}
        for _, _, sp in spans:
            self.assertNotIn(sp["spanId"], d, "span sent twice")
            d[sp["spanId"]] = sp
        return d

    def assert_same_as_file(self, spans, events):
        """The spans that arrived are the mapping of the events file, field for field (the trace
        ids aside: they are checked as one trace per root call); returns them by id."""
        got = self.by_id(spans)
        pids = sorted({e["pid"] for e in events})
        all_ref, all_roots = {}, {}
        for pid in pids:
            ref, roots = reference_spans([e for e in events if e["pid"] == pid])
            all_ref.update(ref)
            all_roots.update(roots)
        self.assertEqual(sorted(got), sorted(all_ref))
        trace_of_root = {}
        for sid, want in all_ref.items():
            have = dict(got[sid])
            tid = have.pop("traceId")
            self.assertRegex(tid, r"^[0-9a-f]{32}$")
            root = all_roots.get(sid, sid)
            trace_of_root.setdefault(root, tid)
            self.assertEqual(trace_of_root[root], tid, "a call is not in its root call's trace")
            want = dict(want)
            if want.pop("unfinished", False):
                self.assertGreaterEqual(int(have["endTimeUnixNano"]), int(want["endTimeUnixNano"]))
                have["endTimeUnixNano"] = want["endTimeUnixNano"]
            self.assertEqual(have, want, sid)
        self.assertEqual(len(set(trace_of_root.values())), len(trace_of_root), "one trace per root call")
        return got

    def assert_same_as_exporter(self, spans):
        """`teleforge telemetry export` of the same events file gives the same spans (trace ids and
        the end of unfinished spans aside)."""
        exe = teleforge_bin()
        if exe is None:
            return False
        svc = spans[0][0]["service.name"]["stringValue"]
        p = subprocess.run([exe, "telemetry", "export", self.events_path, "--service-name", svc],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        want = {}
        for line in p.stdout.decode().splitlines():
            for rs in json.loads(line)["resourceSpans"]:
                res = kv(rs["resource"]["attributes"])
                for ss in rs["scopeSpans"]:
                    for sp in ss["spans"]:
                        want[sp["spanId"]] = (res, ss["scope"], sp)
        got = {sp["spanId"]: (res, scope, sp) for res, scope, sp in spans}
        self.assertEqual(sorted(got), sorted(want))
        traces = {}
        for sid, (wres, wscope, wsp) in want.items():
            gres, gscope, gsp = got[sid]
            self.assertEqual(gscope, wscope)
            for k in ("service.name", "process.pid", "telemetry.sdk.name", "telemetry.sdk.language",
                      "telemetry.sdk.version"):
                self.assertEqual(gres[k], wres[k], k)
            gsp, wsp = dict(gsp), dict(wsp)
            self.assertEqual(traces.setdefault(wsp.pop("traceId"), gsp["traceId"]), gsp.pop("traceId"))
            if {"key": "teleforge.unfinished", "value": {"boolValue": True}} in wsp["attributes"]:
                self.assertGreaterEqual(int(gsp["endTimeUnixNano"]), int(wsp["endTimeUnixNano"]))
                gsp["endTimeUnixNano"] = wsp["endTimeUnixNano"]
            self.assertEqual(gsp, wsp, sid)
        self.assertEqual(len(set(traces.values())), len(traces))
        return True


PROGRAM = """
    import asyncio, threading
    @tel.instrument("app.leaf", "app/m.py", 1)
    def leaf(x, *rest, k=None):
        tel.var_assign("app.leaf", "app/m.py", 2, "y", x * 1.5)
        return x + 1
    @tel.instrument("app.top", "app/m.py", 3)
    def top(n, s="h\\u00e9\\"llo\\n"):
        for i in range(n):
            tel.loop_iter("app.top", "app/m.py", 4)
            leaf(i, 2, k=None)
        tel.var_assign("app.top", "app/m.py", 5, "flag", n > 2)
        tel.var_assign("app.top", "app/m.py", 6, "big", 2 ** 70)
        tel.var_assign("app.top", "app/m.py", 7, "none", None)
        if n == 2:
            raise ValueError("bad n: 2")
        return [1, 2]
    @tel.instrument("app.gen", "app/m.py", 8)
    def gen(n):
        for i in range(n):
            tel.loop_iter("app.gen", "app/m.py", 9)
            yield leaf(i)
    @tel.instrument("app.work", "app/m.py", 10)
    async def work(tag):
        await asyncio.sleep(0)
        return leaf(len(tag))
    @tel.instrument("app.amain", "app/m.py", 11)
    async def amain():
        return await asyncio.gather(work("a"), work("bb"))
    tel.loop_iter("app.module", "app/m.py", 12)          # outside any span: not sent
    top(3)
    try:
        top(2)
    except ValueError:
        pass
    list(gen(2))
    asyncio.run(amain())
    t = threading.Thread(target=top, args=(1,))
    t.start(); t.join()
    with tel.span("app.block", "app/m.py", 13, {"f": 0.25, "o": object(), "l": [1]}) as s:
        s.result(True)
    tel.func_call("app.entry_only", "app/m.py", 14, {"a": None})
    left_open = tel.func_entry("app.left_open", "app/m.py", 15, {})
    tel.loop_iter("app.left_open", "app/m.py", 16)
"""


class TestSpans(Base):
    def test_every_span_once_same_as_the_events_file(self):
        rx = self.receiver()
        env = self.env(rx.url, file=True, extra={
            "OTEL_SERVICE_NAME": "shop",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=te%20st,service.name=ignored,team=a",
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20abc,x-one=1",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-one=2",
        })
        p = self.run_py(PROGRAM + "\nOUT(os.getpid())\n", env)
        self.quiet(p)
        pid = self.out()
        spans = rx.spans()
        got = self.assert_same_as_file(spans, self.events())
        # what the program did, seen in the spans
        names = sorted(sp["name"] for sp in got.values())
        self.assertEqual(names, sorted(["app.top"] * 3 + ["app.leaf"] * 10 + ["app.gen", "app.work", "app.work",
                                        "app.amain", "app.block", "app.entry_only", "app.left_open"]))
        tops = [sp for sp in got.values() if sp["name"] == "app.top"]
        roots = [sp for sp in got.values() if "parentSpanId" not in sp]
        self.assertEqual(len(roots), 8)  # 3 top, gen, amain, block, entry_only, left_open
        self.assertEqual(len({sp["traceId"] for sp in roots}), 8)
        for sp in got.values():
            if "parentSpanId" in sp:
                self.assertEqual(sp["traceId"], got[sp["parentSpanId"]]["traceId"])
        failed = [sp for sp in tops if "status" in sp]
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed[0]["status"], {"code": 2, "message": "ValueError: bad n: 2"})
        self.assertEqual(failed[0]["events"][-1]["name"], "exception")
        a = kv(tops[0]["attributes"])
        self.assertEqual(a["teleforge.args.s"], {"stringValue": 'h\u00e9"llo\n'})
        ok = [kv(sp["attributes"]) for sp in tops if "status" not in sp]
        self.assertEqual(ok[0]["teleforge.results.0"], {"stringValue": "<list len=2>"})
        ev = {e["name"] for sp in tops for e in sp.get("events", [])}
        self.assertEqual(ev, {"loop_iter", "var_assign", "exception"})
        block = kv([sp for sp in got.values() if sp["name"] == "app.block"][0]["attributes"])
        self.assertEqual((block["teleforge.args.f"], block["teleforge.args.o"], block["teleforge.results.0"]),
                         ({"doubleValue": 0.25}, {"stringValue": "<object>"}, {"boolValue": True}))
        lo = kv([sp for sp in got.values() if sp["name"] == "app.left_open"][0]["attributes"])
        self.assertEqual(lo["teleforge.unfinished"], {"boolValue": True})
        # resource, scope, request
        res, scope, _ = spans[0]
        self.assertEqual(res, {
            "service.name": {"stringValue": "shop"}, "process.pid": {"intValue": str(pid)},
            "telemetry.sdk.name": {"stringValue": "teleforge"}, "telemetry.sdk.language": {"stringValue": "python"},
            "telemetry.sdk.version": {"stringValue": "0.1.0"},
            "deployment.environment": {"stringValue": "te st"}, "team": {"stringValue": "a"}})
        self.assertEqual(scope, {"name": "teleforge", "version": "0.1.0"})
        for r in rx.requests:
            self.assertEqual(r["path"], "/v1/traces")
            h = {k.lower(): v for k, v in r["headers"].items()}
            self.assertEqual(h["content-type"], "application/json")
            self.assertEqual((h["authorization"], h["x-one"]), ("Bearer abc", "2"))
        self.assert_same_as_exporter(spans)

    def test_matches_teleforge_telemetry_export(self):
        if teleforge_bin() is None:
            self.skipTest("no built teleforge binary (set TELEFORGE_BIN)")
        rx = self.receiver()
        p = self.run_py(PROGRAM, self.env(rx.url, file=True))
        self.quiet(p)
        self.assertTrue(self.assert_same_as_exporter(rx.spans()))

    def test_endpoint_only_writes_no_file(self):
        rx = self.receiver()
        p = self.run_py("""
            s = tel.func_entry("m.f", "m.py", 1, {"a": 1})
            tel.func_exit(s, 2)
            OUT(sorted(os.listdir(".")))
        """, self.env(rx.url))
        self.quiet(p)
        self.assertEqual(self.out(), [])  # out.json is written after the listing
        self.assertEqual([sp["name"] for _, _, sp in rx.spans()], ["m.f"])

    def test_threads_processes_and_fork(self):
        rx = self.receiver()
        p = self.run_py("""
            import multiprocessing, threading, warnings
            # Python 3.12+ warns about fork() with threads running (the runtime's own thread
            # counts, as the file flusher's does): not what this test is about.
            warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
            @tel.instrument("m.leaf", "m.py", 1)
            def leaf(i):
                return i
            @tel.instrument("m.outer", "m.py", 2)
            def outer():
                pid = os.fork()
                if pid == 0:
                    leaf(-1)                  # in the child, inside the parent's span
                    os._exit(0)
                os.waitpid(pid, 0)
                return pid
            def child(k):
                for i in range(50):
                    leaf(k)
            ts = [threading.Thread(target=lambda: [leaf(i) for i in range(30)]) for _ in range(3)]
            for t in ts: t.start()
            for t in ts: t.join()
            ctx = multiprocessing.get_context("fork")
            ps = [ctx.Process(target=child, args=(k,)) for k in range(2)]
            for q in ps: q.start()
            for q in ps: q.join()
            OUT([outer(), os.getpid()])
        """, self.env(rx.url, file=True, extra={"TELEMETRY_SAMPLE_FIRST": "1000000"}))
        self.quiet(p)
        child, parent = self.out()
        spans = rx.spans()
        got = self.assert_same_as_file(spans, self.events())
        self.assertEqual(len(got), 90 + 100 + 2)
        pids = {}
        for res, _, sp in spans:
            pids.setdefault(res["process.pid"]["intValue"], []).append(sp)
        self.assertEqual(len(pids), 4)  # parent, two multiprocessing children, the forked child
        (outer,) = [sp for sp in got.values() if sp["name"] == "m.outer"]
        (inchild,) = pids[str(child)]
        self.assertEqual(inchild["parentSpanId"], outer["spanId"])  # the caller in the parent process
        self.assertEqual(inchild["traceId"], outer["traceId"])
        self.assertEqual(len(pids[str(parent)]), 91)


class TestOff(Base):
    CODE = (
        "import sys; sys.path.insert(0, %r)\n"
        "def state():\n"
        "    import posix\n"
        "    return set(sys.modules), len(posix.listdir('/proc/self/task')), len(posix.listdir('/proc/self/fd'))\n"
        "m0, t0, f0 = state()\n"
        "import _teleforge_tel\n"
        "tel = _teleforge_tel.tel\n"
        "s = tel.func_entry('m.f', 'm.py', 1, {'a': 1}); tel.func_exit(s, 2)\n"
        "tel.loop_iter('m.f', 'm.py', 2); tel.var_assign('m.f', 'm.py', 3, 'x', 1)\n"
        "m1, t1, f1 = state()\n"
        "sys.stderr.write(repr((sorted(m1 - m0), t1 - t0, f1 - f0)))\n" % HERE
    )

    def state(self, env):
        p = subprocess.run([sys.executable, "-S", "-c", self.CODE], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60, cwd=self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stderr.decode()

    def test_off_imports_starts_and_opens_nothing(self):
        port = closed_port()
        for extra in ({}, {"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""},
                      {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % port, "OTEL_SDK_DISABLED": "TRUE"},
                      {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % port, "OTEL_TRACES_EXPORTER": "none"},
                      {"OTEL_SERVICE_NAME": "x", "OTEL_BSP_SCHEDULE_DELAY": "10"}):
            with self.subTest(extra=extra):
                self.assertEqual(self.state(self.env(extra=extra)), "(['_teleforge_tel'], 0, 0)")
        self.assertEqual(os.listdir(self.tmp), [])

    def test_on_nothing_networked_is_imported_by_the_recording_thread(self):
        rx = self.receiver()
        p = self.run_py("""
            before = set(sys.modules)
            import threading
            n = threading.active_count()
            s = tel.func_entry("m.f", "m.py", 1, {"a": 1}); tel.func_exit(s, 2)
            mods = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in ("http", "ssl", "socket", "json", "urllib", "email"))
            OUT([mods, threading.active_count() - n])
        """, self.env(rx.url))
        self.quiet(p)
        self.assertEqual(self.out(), [[], 0])  # http.client comes with the first request, in the sender
        self.assertEqual(len(rx.spans()), 1)

    def test_grpc_protocol_is_off_with_one_line(self):
        rx = self.receiver()
        for name in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
            with self.subTest(name=name):
                p = self.run_py("""
                    for i in range(3):
                        tel.func_exit(tel.func_entry("m.f", "m.py", 1), i)
                    print("out")
                """, self.env(rx.url, file=True, extra={name: "grpc"}))
                self.assertEqual(p.stdout, b"out\n")
                lines = p.stderr.decode().splitlines()
                self.assertEqual(len(lines), 1, lines)
                self.assertIn("gRPC is not supported", lines[0])
                self.assertIn("4318", lines[0])
                self.assertEqual(len(self.events()), 6)  # the file is not affected
                os.unlink(self.events_path)
        self.assertEqual(rx.requests, [])
        # http/json and http/protobuf send OTLP/HTTP JSON
        for proto in ("http/json", "http/protobuf"):
            p = self.run_py('tel.func_exit(tel.func_entry("m.f", "m.py", 1), 1)',
                            self.env(rx.url, extra={"OTEL_EXPORTER_OTLP_PROTOCOL": proto}))
            self.quiet(p)
        self.assertEqual(len(rx.spans()), 2)


class TestExitAndFailures(Base):
    RECORD = textwrap.dedent("""
        @tel.instrument("m.work", "m.py", 1)
        def work(i):
            return i
        for i in range(5):
            work(i)
        print("done")
    """)

    def test_every_exit_path_delivers(self):
        rx = self.receiver()
        for tail, rc, unfinished in (
            ("", 0, 0),
            ("@tel.instrument('m.x', 'm.py', 2)\ndef x(): sys.exit(3)\nx()", 3, 0),
            ("@tel.instrument('m.x', 'm.py', 2)\ndef x(): raise RuntimeError('boom')\nx()", 1, 0),
            ("@tel.instrument('m.x', 'm.py', 2)\ndef x(): os._exit(4)\nx()", 4, 1),
            ("import threading, time\nthreading.Thread(target=lambda: os._exit(5)).start()\ntime.sleep(5)", 5, 0),
        ):
            with self.subTest(tail=tail):
                del rx.requests[:]
                p = self.run_py(self.RECORD + "\n" + tail, self.env(rx.url, file=True),
                                expect_rc=rc)
                self.assertEqual(p.stdout, b"done\n")
                got = self.assert_same_as_file(rx.spans(), self.events())
                os.unlink(self.events_path)
                self.assertEqual(len([s for s in got.values() if s["name"] == "m.work"]), 5)
                self.assertEqual(len([s for s in got.values() if "teleforge.unfinished" in kv(s["attributes"])]),
                                 unfinished)
                if rc in (1, 3):
                    (x,) = [s for s in got.values() if s["name"] == "m.x"]
                    self.assertEqual(x["status"]["code"], 2)

    def test_unreachable_endpoint_changes_nothing_but_one_line(self):
        url = "http://127.0.0.1:%d" % closed_port()
        base = self.run_py(self.RECORD + "\nsys.exit(7)", self.env(), expect_rc=7)
        for extra in ({}, {"OTEL_BSP_SCHEDULE_DELAY": "50"}):
            with self.subTest(extra=extra):
                body = self.RECORD + "\nimport time\ntime.sleep(0.3)\nsys.exit(7)" if extra else self.RECORD + "\nsys.exit(7)"
                p = self.run_py(body, self.env(url, extra=extra), expect_rc=7)
                self.assertEqual(p.stdout, base.stdout)
                lines = p.stderr.decode().splitlines()
                self.assertEqual(len(lines), 1, lines)
                self.assertRegex(lines[0], r"^teleforge Tel: OTLP export to %s/v1/traces failed: .*[Rr]efused.*; 5 spans dropped$" % url)
                self.assertLess(p.elapsed, base.elapsed + 3.0)

    def test_retried_on_429_and_503_arrives_once(self):
        for script in ([429], [503, 429]):
            with self.subTest(script=script):
                rx = self.receiver(script=script)
                p = self.run_py(self.RECORD, self.env(rx.url))
                self.assertEqual(p.stderr, b"")
                self.assertEqual([r["status"] for r in rx.requests], script + [200])
                self.assertEqual(len(self.by_id(rx.spans())), 5)
                self.assertEqual(len({r["body"] for r in rx.requests}), 1)  # the same request again
                rx.close()
                self.rx = None

    def test_rejected_request_is_dropped_with_one_line(self):
        rx = self.receiver(script=[400, 400])
        p = self.run_py(self.RECORD + "\n" + self.RECORD.replace("m.work", "m.more"),
                        self.env(rx.url, extra={"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "5"}))
        lines = p.stderr.decode().splitlines()
        self.assertEqual(lines, ["teleforge Tel: OTLP export to %s/v1/traces failed: HTTP 400 Bad Request; "
                                 "10 spans dropped" % rx.url])
        self.assertEqual(len(rx.requests), 2)  # not retried


class TestBatching(Base):
    def test_batches_schedule_and_queue_limit(self):
        rx = self.receiver()
        p = self.run_py("""
            import time
            for i in range(25):
                tel.func_exit(tel.func_entry("m.f", "m.py", 1, {"i": i}), i)
            time.sleep(0.5)       # the sender sends on its schedule, before exit
        """, self.env(rx.url, extra={"OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10",
                                    "TELEMETRY_SAMPLE_FIRST": "1000"}))
        self.quiet(p)
        sizes = [sum(len(ss["spans"]) for rs in r["resourceSpans"] for ss in rs["scopeSpans"])
                 for r in rx.accepted()]
        self.assertEqual(sum(sizes), 25)
        self.assertLessEqual(max(sizes), 10)
        self.assertEqual(len(self.by_id(rx.spans())), 25)

    def test_full_queue_drops_and_counts_never_blocks(self):
        rx = self.receiver(delay=0.5)
        p = self.run_py("""
            import time
            t0 = time.monotonic()
            for i in range(100):
                tel.func_exit(tel.func_entry("m.f", "m.py", 1), i)
            OUT(time.monotonic() - t0)
        """, self.env(rx.url, extra={"OTEL_BSP_MAX_QUEUE_SIZE": "20", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "20",
                                     "TELEMETRY_SAMPLE_FIRST": "1000"}))
        self.assertLess(self.out(), 0.4)
        lines = p.stderr.decode().splitlines()
        n = len(self.by_id(rx.spans()))
        self.assertGreaterEqual(n, 20)
        self.assertEqual(lines, ["teleforge Tel: OTLP export to %s/v1/traces failed: the queue was full "
                                 "(OTEL_BSP_MAX_QUEUE_SIZE=20); %d spans dropped" % (rx.url, 100 - n)])

    def test_sender_is_invisible_and_recording_makes_no_system_call(self):
        rx = self.receiver()
        p = self.run_py("""
            import threading, time, socket
            before = (threading.active_count(), [t.name for t in threading.enumerate()])
            calls = []
            real_w, real_c = os.write, socket.socket.connect
            def w(fd, data):
                calls.append("write"); return real_w(fd, data)
            tel.loop_iter("m.f", "m.py", 0)
            os.write = w
            me = threading.get_ident()
            def conn(self, addr):
                if threading.get_ident() == me:
                    calls.append("connect")
                return real_c(self, addr)
            socket.socket.connect = conn
            for i in range(1500):
                s = tel.func_entry("m.f", "m.py", 1, {"i": i})
                tel.var_assign("m.f", "m.py", 2, "i", i)
                tel.func_exit(s, i)
            time.sleep(0.3)
            os.write = real_w
            OUT([before, (threading.active_count(), [t.name for t in threading.enumerate()]), calls])
        """, self.env(rx.url, extra={"TELEMETRY_SAMPLE_FIRST": "1000000", "OTEL_BSP_SCHEDULE_DELAY": "100"}))
        self.quiet(p)
        before, after, calls = self.out()
        self.assertEqual(before, after)
        self.assertEqual(calls, [])
        self.assertEqual(len(self.by_id(rx.spans())), 1500)

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
        seen = []
        for rep in range(20):
            del done[:]
            t = threading.Thread(target=worker)
            t.start()
            seen.append(len(done))
            t.join()
        OUT(seen)
    """

    def test_thread_interleaving_is_the_same_with_export_on(self):
        # docs/TELEMETRY.md, "Writing, and what can be lost": recording must not hand the GIL over
        # where the program would not (see the same test in test_teleforge_tel.py).
        self.run_py(self.INTERLEAVE, self.env())
        off = self.out()
        rx = self.receiver()
        self.run_py(self.INTERLEAVE, self.env(rx.url, extra={"TELEMETRY_SAMPLE_FIRST": "1000000000"}))
        on = self.out()
        self.assertGreaterEqual(off.count(100), 17, off)
        self.assertGreaterEqual(on.count(100), 17, "export changed the interleaving: %r vs %r" % (on, off))
        self.assertEqual(len(self.by_id(rx.spans())), 2000)


class TestConfiguration(Base):
    def url(self, extra):
        p = self.run_py("import _teleforge_tel as m\nOUT(m._otlp_url())", self.env(extra=extra))
        return self.out()

    def test_endpoint_resolution(self):
        self.assertEqual(self.url({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318"}), "http://h:4318/v1/traces")
        self.assertEqual(self.url({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318/"}), "http://h:4318/v1/traces")
        self.assertEqual(self.url({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318/base"}),
                         "http://h:4318/base/v1/traces")
        self.assertEqual(self.url({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318",
                                   "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:1/custom"}), "http://t:1/custom")
        self.assertIsNone(self.url({}))
        self.assertIsNone(self.url({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h", "OTEL_SDK_DISABLED": "True"}))

    def test_default_service_name_and_traces_endpoint_as_given(self):
        rx = self.receiver()
        p = self.run_py('tel.func_exit(tel.func_entry("m.f", "m.py", 1), 1)',
                        self.env(extra={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": rx.url + "/x/y",
                                        "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-res"}))
        self.quiet(p)
        self.assertEqual([r["path"] for r in rx.requests], ["/x/y"])
        self.assertEqual(rx.spans()[0][0]["service.name"], {"stringValue": "from-res"})
        del rx.requests[:]
        self.run_py('tel.func_exit(tel.func_entry("m.f", "m.py", 1), 1)', self.env(rx.url))
        self.assertEqual(rx.spans()[0][0]["service.name"],
                         {"stringValue": "unknown_service:" + os.path.basename(sys.executable)})

    def test_bad_endpoint_is_one_line_and_nothing_else(self):
        p = self.run_py('tel.func_exit(tel.func_entry("m.f", "m.py", 1), 1)\nprint("ok")',
                        self.env("ftp://h:21"))
        self.assertEqual(p.stdout, b"ok\n")
        self.assertEqual(p.stderr.decode().splitlines(),
                         ["teleforge Tel: OTLP export to ftp://h:21/v1/traces failed: bad endpoint "
                          "(not an http:// or https:// URL); 1 spans dropped"])


class TestHttps(Base):
    def test_https_with_the_receivers_certificate(self):
        openssl = shutil.which("openssl")
        if openssl is None:
            self.skipTest("no openssl to make a certificate")
        cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        p = subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", key, "-out", cert], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            self.skipTest("openssl could not make a certificate: %s" % p.stderr[-200:])
        rx = self.receiver(tls=(cert, key))
        body = 'tel.func_exit(tel.func_entry("m.f", "m.py", 1), 1)\nprint("ok")'
        p = self.run_py(body, self.env(rx.url, extra={"OTEL_EXPORTER_OTLP_CERTIFICATE": cert}))
        self.quiet_ok(p)
        self.assertEqual([sp["name"] for _, _, sp in rx.spans()], ["m.f"])
        # not trusted: one line, not retried, nothing else changes
        p = self.run_py(body, self.env(rx.url))
        self.assertEqual(p.stdout, b"ok\n")
        lines = p.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r"^teleforge Tel: OTLP export to https://127\.0\.0\.1:\d+/v1/traces failed: "
                                   r".*certificate verify failed.*; 1 spans dropped$")
        self.assertEqual(len(rx.spans()), 1)

    def quiet_ok(self, p):
        self.assertEqual((p.stdout, p.stderr), (b"ok\n", b""))


class TestModuleFile(unittest.TestCase):
    def test_runtime_imports_only_standard_library_modules(self):
        # The networking modules come in through __import__ at the first request (the allow-list
        # of test_teleforge_tel.py covers the `import` statements).
        with open(MODULE, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        dynamic = [n.args[0].value for n in ast.walk(tree)
                   if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "__import__"]
        self.assertEqual(sorted(dynamic), ["http.client", "ssl"])


if __name__ == "__main__":
    unittest.main()
