"""Micro-benchmark of _teleforge_tel (not a test).

    python3 bench_teleforge_tel.py

Prints the cost of a func_entry+func_exit pair (and a few other calls) next to an
empty function call measured in the same run.  The runtime reads its configuration
once per process, so each mode runs in its own interpreter:

  disabled          TELEMETRY_FILE unset
  enabled, sampled  TELEMETRY_FILE set, default sampling: after the first 100
                    occurrences of a site almost nothing is written (hot path)
  enabled, written  TELEMETRY_SAMPLE_FIRST huge: every call writes its events
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
    for label, stmt in CASES:
        t = timeit.Timer(stmt, globals=glb)
        t.timeit(1000)  # warm up: past the first 100 sampled occurrences
        best = min(t.repeat(repeat=5, number=number)) / number
        res[label] = best * 1e9
    print(json.dumps(res))


def main():
    tmp = tempfile.mkdtemp(prefix="tfbench-")
    path = os.path.join(tmp, "events.jsonl")
    modes = [
        ("disabled", {}),
        ("enabled, sampled", {"TELEMETRY_FILE": path}),
        ("enabled, written", {"TELEMETRY_FILE": path, "TELEMETRY_SAMPLE_FIRST": str(10**12), "BENCH_NUMBER": "20000"}),
    ]
    results = {}
    for mode, extra in modes:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
        env["PYTHONPATH"] = HERE
        env.update(extra)
        out = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--child"], env=env, stdout=subprocess.PIPE, check=True
        ).stdout
        results[mode] = json.loads(out)
    size = os.path.getsize(path) if os.path.exists(path) else 0
    if os.path.exists(path):
        os.unlink(path)

    # Import time from a compiled .pyc (what users get unless bytecode writing is off).
    import py_compile
    import shutil

    mod = os.path.join(tmp, "_teleforge_tel.py")
    shutil.copy(os.path.join(HERE, "_teleforge_tel.py"), mod)
    py_compile.compile(mod, cfile=os.path.join(tmp, "__pycache__", "_teleforge_tel.%s.pyc" % sys.implementation.cache_tag))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
    env["PYTHONPATH"] = tmp
    code = "import time; t = time.perf_counter(); import _teleforge_tel; print((time.perf_counter() - t) * 1e6)"
    pyc_us = min(
        float(subprocess.run([sys.executable, "-c", code], cwd=tmp, env=env, stdout=subprocess.PIPE, check=True).stdout)
        for _ in range(5)
    )
    shutil.rmtree(tmp)

    print("Python %s, ns per operation (best of 5), ratio to the empty call f()" % sys.version.split()[0])
    head = "%-32s" % "operation" + "".join("%22s" % m for m, _ in modes)
    print(head)
    print("-" * len(head))
    for label, _ in CASES:
        row = "%-32s" % label
        for mode, _ in modes:
            r = results[mode]
            base = r[CASES[0][0]]
            row += "%13.0f ns %5.1fx" % (r[label], r[label] / base)
        print(row)
    print("%-32s" % "import _teleforge_tel (source)" + "".join("%19.0f us" % results[m]["import_us"] for m, _ in modes))
    print("%-32s%19.0f us" % ("import _teleforge_tel (.pyc)", pyc_us))
    print("events file written by the 'enabled' runs: %.1f MB" % (size / 1e6))


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        main()
