'use strict';
// Micro-benchmark for _teleforge_tel.cjs (not a test). From the repository root:
//   node crates/teleforge-instrument/runtime/javascript/bench_teleforge_tel.cjs
// The configuration is read once per process, so each mode runs in its own child process; every
// child measures an empty-function baseline in the same run as the instrumented calls.
//   node bench_teleforge_tel.cjs --before DIR
// also runs every mode with DIR/_teleforge_tel.cjs (an older version, say from git), same run.

const path = require('path');
const os = require('os');
const fs = require('fs');
const { spawnSync } = require('child_process');

const RUNTIME = process.env.BENCH_RUNTIME || path.join(__dirname, '_teleforge_tel.cjs');

function child() {
  const Tel = require(RUNTIME);
  let sink = 0;

  function base(x) {
    return x + 1;
  }
  function inst(x) {
    const s = Tel.funcEntry('bench.inst', 'bench.js', 10, { x });
    return Tel.funcExit(s, x + 1);
  }
  function outer(x) {
    const s = Tel.funcEntry('bench.outer', 'bench.js', 40, { x });
    return Tel.funcExit(s, inst(x));
  }
  function loop(x) {
    Tel.loopIter('bench.loop', 'bench.js', 20);
    return x + 1;
  }
  function assign(x) {
    return Tel.varAssign('bench.assign', 'bench.js', 30, 'x', x + 1);
  }
  function deep(n, f, x) {
    return n === 0 ? f(x) : deep(n - 1, f, x) + 0;
  }

  function time(f, n) {
    let best = Infinity;
    for (let rep = 0; rep < 5; rep++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) sink = f(sink) | 0;
      const ns = Number(process.hrtime.bigint() - t0) / n;
      if (ns < best) best = ns;
    }
    return best;
  }

  const n = Number(process.env.BENCH_N);
  if (process.env.BENCH_ONLY_THROUGHPUT) {
    const m = 200000;
    let best = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < m; i++) Tel.varAssign('bench.t', 'bench.js', 50, 'i', i);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (s < best) best = s;
    }
    process.stdout.write(JSON.stringify({ eventsPerS: m / best }));
    return;
  }
  const out = {
    baseline: time(base, n),
    pair: time(inst, n),
    loopIter: time(loop, n),
    varAssign: time(assign, n),
    nested: time(outer, n),
  };
  if (process.env.BENCH_DEEP) {
    out.baselineDepth60 = time((x) => deep(60, base, x), n);
    out.pairDepth60 = time((x) => deep(60, inst, x), n);
  }
  if (process.env.BENCH_DEEP) {
    // throughput: 200,000 varAssign events, every one written (size flushes are synchronous)
    const n = 200000;
    let best = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) Tel.varAssign('bench.t', 'bench.js', 50, 'i', i);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (s < best) best = s;
    }
    out.eventsPerS = n / best;
  }
  out.sink = sink;
  process.stdout.write(JSON.stringify(out));
}

function runAll(runtime, label) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-bench-'));
  const file = path.join(dir, 'events.jsonl');
  const env = { ...process.env };
  delete env.TELEMETRY_FILE;
  delete env.TELEMETRY_SAMPLE_FIRST;
  const modes = [
    ['disabled (TELEMETRY_FILE unset)', { BENCH_N: '20000000' }],
    ['enabled, steady state (default sampling: ~all calls unsampled)', { BENCH_N: '5000000', TELEMETRY_FILE: file }],
    ['enabled, every call recorded (TELEMETRY_SAMPLE_FIRST=1e12)', {
      BENCH_N: '20000', BENCH_DEEP: '1', TELEMETRY_FILE: file, TELEMETRY_SAMPLE_FIRST: '1000000000000',
    }],
  ];
  console.log(`\n== ${label} (${runtime})`);
  let eventsPerS = null;
  for (const [label, extra] of modes) {
    const r = spawnSync(process.execPath, [__filename, '--child'], { env: { ...env, ...extra, BENCH_RUNTIME: runtime }, encoding: 'utf8' });
    if (r.status !== 0) {
      console.log(`${label}: failed\n${r.stderr}`);
      continue;
    }
    const m = JSON.parse(r.stdout);
    const f = (x) => x.toFixed(1).padStart(8);
    console.log(`\n${label}`);
    console.log(`  empty function call (baseline)   ${f(m.baseline)}`);
    console.log(`  funcEntry+funcExit pair, in fn    ${f(m.pair)}   (+${(m.pair - m.baseline).toFixed(1)} over baseline)`);
    console.log(`  loopIter, in fn                   ${f(m.loopIter)}   (+${(m.loopIter - m.baseline).toFixed(1)})`);
    console.log(`  varAssign, in fn                  ${f(m.varAssign)}   (+${(m.varAssign - m.baseline).toFixed(1)})`);
    console.log(`  two nested instrumented functions ${f(m.nested)}   (+${(m.nested - m.baseline).toFixed(1)})`);
    if (m.eventsPerS !== undefined) eventsPerS = m.eventsPerS;
    if (m.pairDepth60 !== undefined) {
      console.log(`  baseline at stack depth ~60       ${f(m.baselineDepth60)}`);
      console.log(`  pair at stack depth ~60           ${f(m.pairDepth60)}   (+${(m.pairDepth60 - m.baselineDepth60).toFixed(1)})`);
    }
  }
  let size = 0;
  try {
    size = fs.statSync(file).size;
  } catch (_) {
    // no file
  }
  console.log(`\n(${(size / 1e6).toFixed(0)} MB of events written to ${file}, removed)`);
  fs.rmSync(dir, { recursive: true, force: true });
  return eventsPerS;
}

function main() {
  console.log(`node ${process.version}, ${os.cpus().length} CPUs; ns per call, best of 5`);
  const runs = [['this runtime', RUNTIME]];
  const i = process.argv.indexOf('--before');
  if (i > 0) runs.unshift(['before', path.join(path.resolve(process.argv[i + 1]), '_teleforge_tel.cjs')]);
  const summary = runs.map(([label, rt]) => [label, runAll(rt, label)]);
  console.log('\nthroughput, every event written (200,000 varAssign, best of 3)');
  for (const [label, eps] of summary) console.log(`  ${label.padEnd(14)} ${eps === null ? 'n/a' : Math.round(eps) + ' events/s (' + (1e9 / eps).toFixed(0) + ' ns/event)'}`);
}


if (process.argv[2] === '--child') child();
else main();
