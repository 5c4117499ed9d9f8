"""Micro-benchmark of _teleforge_tel (not a test).

    python3 bench_teleforge_tel.py

Prints the cost of a func_entry+func_exit pair (and a few other calls) next to an
empty function call measured in the same run.  The runtime reads its configuration
once per process, so each mode runs in its own interpreter:

  disabled          TELEMETRY_FILE unset
  enabled, sampled  TELEMETRY_FILE set, default sampling: after the first 100
                    occurrences of a site almost nothing is written (hot path)
  enabled, written  TELEMETRY_SAMPLE_FIRST huge: every call writes its events
  OTLP, sampled     no file; OTEL_EXPORTER_OTLP_ENDPOINT set to a receiver in this
                    process (http.server on 127.0.0.1), default sampling
  OTLP, sent        the same, TELEMETRY_SAMPLE_FIRST huge: every call is a span sent
                    (OTEL_BSP_MAX_QUEUE_SIZE raised so that none is dropped: the
                    sender thread's encoding competes for the GIL in the figures)

Throughput (enabled, written): 200,000 var_assign events recorded by one thread,
then the runtime's buffer written out; events per second of wall time and
nanoseconds of process CPU time (all threads: the flusher counts) per event.
Throughput (OTLP, sent): 50,000 func_entry+func_exit pairs, then everything queued
sent; spans per second and CPU ns per span (all threads: encoding and sending count).

    python3 bench_teleforge_tel.py --before DIR

also runs every mode with the ``_teleforge_tel.py`` found in DIR (for example
an older version from git) in the same run, alternating, for a before/after table.
"""

import json
import os
import subprocess
import sys
import tempfile
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = [
    ("empty call f()  [baseline]", "f()"),
    ("empty call g(name, file, line)", "g('app.f', 'app/m.py', 12)"),
    ("func_entry+func_exit pair", "tel.func_exit(tel.func_entry('app.f', 'app/m.py', 12, {'a': 1}), 3)"),
    ("loop_iter", "tel.loop_iter('app.f', 'app/m.py', 13)"),
    ("var_assign", "tel.var_assign('app.f', 'app/m.py', 14, 'x', 5)"),
    ("@instrument'ed empty call", "h(1)"),
    ("with tel.span(...)", "with tel.span('app.s', 'app/m.py', 15):\n    pass"),
]

SETUP = """
from _teleforge_tel import tel
def f(): pass
def g(name, file, line): pass
@tel.instrument('app.h', 'app/m.py', 20)
def h(a): pass
"""


def child():
    import time

    t0 = time.perf_counter()
    import _teleforge_tel  # noqa: F401  (first import in this process)

    import_us = (time.perf_counter() - t0) * 1e6
    number = int(os.environ.get("BENCH_NUMBER", "200000"))
    res = {"import_us": import_us}
    glb = {}
    exec(SETUP, glb)
    for label, stmt in CASES if not os.environ.get("BENCH_ONLY_THROUGHPUT") else ():
        t = timeit.Timer(stmt, globals=glb)
        t.timeit(1000)  # warm up: past the first 100 sampled occurrences
        best = min(t.repeat(repeat=5, number=number)) / number
        res[label] = best * 1e9
    if os.environ.get("TELEMETRY_SAMPLE_FIRST") and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        import _teleforge_tel as m
        from _teleforge_tel import tel

        if hasattr(m, "_xexport"):
            m._xexport(m._xclock() + 60)  # the timing runs' spans: sent before measuring
        n = 50000
        best_wall = best_cpu = None
        for _ in range(3):
            w0, c0 = time.perf_counter(), time.process_time()
            for i in range(n):
                tel.func_exit(tel.func_entry("app.t", "app/m.py", 30, {"i": i}), i)
            if hasattr(m, "_xexport"):
                m._xexport(m._xclock() + 60)  # include sending what is still queued
            w, c = time.perf_counter() - w0, time.process_time() - c0
            best_wall = w if best_wall is None else min(best_wall, w)
            best_cpu = c if best_cpu is None else min(best_cpu, c)
        res["events_per_s"] = n / best_wall
        res["cpu_ns_per_event"] = best_cpu / n * 1e9
    elif os.environ.get("TELEMETRY_SAMPLE_FIRST"):
        import _teleforge_tel as m
        from _teleforge_tel import tel

        n = 200000
        best_wall = best_cpu = None
        for _ in range(3):
            w0, c0 = time.perf_counter(), time.process_time()
            for i in range(n):
                tel.var_assign("app.t", "app/m.py", 30, "i", i)
            if hasattr(m, "_flush"):
                m._flush(True)  # the buffered runtime: include writing it out
            w, c = time.perf_counter() - w0, time.process_time() - c0
            best_wall = w if best_wall is None else min(best_wall, w)
            best_cpu = c if best_cpu is None else min(best_cpu, c)
        res["events_per_s"] = n / best_wall
        res["cpu_ns_per_event"] = best_cpu / n * 1e9
    print(json.dumps(res))


def receiver():
    """A local OTLP/HTTP receiver that accepts everything; returns (url, spans counter, stop)."""
    import http.server
    import threading

    got = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got[0] += body.count(b'"spanId"')
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    def stop():
        srv.shutdown()
        srv.server_close()

    return "http://127.0.0.1:%d" % srv.server_address[1], got, stop


def run_modes(runtime_dir, path, otlp_url):
    modes = [
        ("disabled", {}),
        ("enabled, sampled", {"TELEMETRY_FILE": path}),
        ("enabled, written", {"TELEMETRY_FILE": path, "TELEMETRY_SAMPLE_FIRST": str(10**12), "BENCH_NUMBER": "20000"}),
        ("OTLP, sampled", {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_url}),
        ("OTLP, sent", {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_url, "TELEMETRY_SAMPLE_FIRST": str(10**12),
                        "BENCH_NUMBER": "20000", "OTEL_BSP_MAX_QUEUE_SIZE": str(10**8)}),
    ]
    results = {}
    for mode, extra in modes:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEMETRY_", "OTEL_"))}
        env["PYTHONPATH"] = runtime_dir
        env.update(extra)
        out = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--child"], env=env, stdout=subprocess.PIPE, check=True
        ).stdout
        results[mode] = json.loads(out)
        if os.path.exists(path):
            os.unlink(path)
    return [m for m, _ in modes], results


def pyc_import_us(runtime_dir, tmp):
    import py_compile
    import shutil

    d = os.path.join(tmp, "pyc")
    os.makedirs(d, exist_ok=True)
    mod = os.path.join(d, "_teleforge_tel.py")
    shutil.copy(os.path.join(runtime_dir, "_teleforge_tel.py"), mod)
    py_compile.compile(mod, cfile=os.path.join(d, "__pycache__", "_teleforge_tel.%s.pyc" % sys.implementation.cache_tag))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
    env["PYTHONPATH"] = d
    code = "import time; t = time.perf_counter(); import _teleforge_tel; print((time.perf_counter() - t) * 1e6)"
    us = min(
        float(subprocess.run([sys.executable, "-c", code], cwd=d, env=env, stdout=subprocess.PIPE, check=True).stdout)
        for _ in range(5)
    )
    shutil.rmtree(d)
    return us


def main():
    import shutil

    tmp = tempfile.mkdtemp(prefix="tfbench-")
    path = os.path.join(tmp, "events.jsonl")
    runtimes = [("this runtime", HERE)]
    if "--before" in sys.argv:
        runtimes.insert(0, ("before", os.path.abspath(sys.argv[sys.argv.index("--before") + 1])))
    print("Python %s, ns per operation (best of 5), ratio to the empty call f() of the same process" % sys.version.split()[0])
    summary = []
    otlp_url, spans_got, stop = receiver()
    for name, rdir in runtimes:
        modes, results = run_modes(rdir, path, otlp_url)
        pyc_us = pyc_import_us(rdir, tmp)
        print("\n== %s (%s)" % (name, rdir))
        head = "%-32s" % "operation" + "".join("%20s" % m for m in modes)
        print(head)
        print("-" * len(head))
        for label, _ in CASES:
            row = "%-32s" % label
            for mode in modes:
                r = results[mode]
                base = r[CASES[0][0]]
                row += "%11.0f ns %5.1fx" % (r[label], r[label] / base)
            print(row)
        print("%-32s" % "import _teleforge_tel (source)" + "".join("%17.0f us" % results[m]["import_us"] for m in modes))
        print("%-32s%19.0f us" % ("import _teleforge_tel (.pyc)", pyc_us))
        w = results["enabled, written"]
        o = results["OTLP, sent"]
        summary.append((name, w["events_per_s"], w["cpu_ns_per_event"], w[CASES[2][0]] / 2,
                        o.get("events_per_s"), o.get("cpu_ns_per_event"), o[CASES[2][0]]))
    stop()
    shutil.rmtree(tmp)
    print("\nthroughput, every event written (200,000 var_assign, buffer written out; best of 3)")
    print("%-16s%16s%22s%26s" % ("runtime", "events/s", "CPU ns/event (all thr.)", "ns/event (entry+exit pair)"))
    for name, eps, cpu, pair, _, _, _ in summary:
        print("%-16s%16.0f%22.0f%26.0f" % (name, eps, cpu, pair))
    print("\nOTLP to a local receiver, every call a span (50,000 entry+exit pairs, queue sent; best of 3)")
    print("%-16s%16s%22s%26s" % ("runtime", "spans/s", "CPU ns/span (all thr.)", "ns/pair (recording thread)"))
    for name, _, _, _, sps, cpu, pair in summary:
        if sps is not None:
            print("%-16s%16.0f%22.0f%26.0f" % (name, sps, cpu, pair))
    print("spans the receiver accepted: %d" % spans_got[0])


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        main()
