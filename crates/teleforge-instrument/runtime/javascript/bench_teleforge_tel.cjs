'use strict';
// Micro-benchmark for _teleforge_tel.cjs (not a test). From the repository root:
//   node crates/teleforge-instrument/runtime/javascript/bench_teleforge_tel.cjs
// The configuration is read once per process, so each mode runs in its own child process; every
// child measures an empty-function baseline in the same run as the instrumented calls.
//   node bench_teleforge_tel.cjs --before DIR
// also runs every mode with DIR/_teleforge_tel.cjs (an older version, say from git), same run.
// The OTLP modes send to a local receiver (this script with --receiver, another process) on
// 127.0.0.1.

const path = require('path');
const os = require('os');
const fs = require('fs');
const { spawn, spawnSync } = require('child_process');

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
  if (process.env.BENCH_OTLP_DRAIN) {
    // Sending cost on the program's thread: record K spans, then let the unref'd sender post
    // them while the thread has nothing else to do; CPU time of the process / K.
    const k = Number(process.env.BENCH_OTLP_DRAIN);
    const countFile = process.env.BENCH_COUNT_FILE;
    const received = () => {
      try {
        return Number(fs.readFileSync(countFile, 'utf8')) || 0;
      } catch (_) {
        return 0;
      }
    };
    const before = received();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < k; i++) inst(i);
    const recordNs = Number(process.hrtime.bigint() - t0) / k;
    const cpu0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    const poll = () => {
      if (received() - before >= k) {
        const cpu = process.cpuUsage(cpu0);
        process.stdout.write(JSON.stringify({
          recordNs, sendCpuNs: ((cpu.user + cpu.system) * 1000) / k, drainMs: Number(process.hrtime.bigint() - w0) / 1e6,
        }));
        return;
      }
      setTimeout(poll, 5);
    };
    poll();
    return;
  }
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

// The OTLP receiver: counts the spans it is sent (written to argv[3] after every request).
function receiverMain() {
  const http = require('http');
  const countFile = process.argv[3];
  let spans = 0;
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let at = 0;
      for (;;) {
        at = body.indexOf('"spanId"', at);
        if (at < 0) break;
        spans++;
        at += 8;
      }
      fs.writeFileSync(countFile, String(spans));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
  });
  srv.listen(0, '127.0.0.1', () => process.stdout.write(String(srv.address().port) + '\n'));
}

function startReceiver(countFile) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [__filename, '--receiver', countFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ child: c, port: Number(out.trim()) });
    });
    c.on('error', reject);
  });
}

function runAll(runtime, label, rx) {
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
  // OTLP to the local receiver, no file. The queue is made large enough to hold every span of the
  // timed loops (the sender runs only when the event loop turns, which it does not in them), so
  // each span is really recorded and queued; they are sent at exit.
  const hasOtlp = fs.readFileSync(runtime, 'utf8').includes('OTEL_EXPORTER_OTLP_ENDPOINT');
  const otlp = {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${rx.port}`, OTEL_BSP_MAX_QUEUE_SIZE: '1000000', OTEL_EXPORTER_OTLP_TIMEOUT: '20000',
  };
  if (hasOtlp) modes.push(['on, OTLP to a local receiver, no file, steady state (default sampling)', { BENCH_N: '5000000', ...otlp }]);
  if (hasOtlp) modes.push(['on, OTLP to a local receiver, no file, every call recorded (TELEMETRY_SAMPLE_FIRST=1e12)', {
    BENCH_N: '5000', TELEMETRY_SAMPLE_FIRST: '1000000000000', ...otlp,
  }]);
  if (hasOtlp) modes.push(['on, OTLP and TELEMETRY_FILE, every call recorded (TELEMETRY_SAMPLE_FIRST=1e12)', {
    BENCH_N: '5000', TELEMETRY_SAMPLE_FIRST: '1000000000000', TELEMETRY_FILE: file, ...otlp,
  }]);
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

  if (!hasOtlp) {
    fs.rmSync(dir, { recursive: true, force: true });
    return eventsPerS;
  }
  // OTLP sending, measured on the program's own thread, and the cost of the exit send.
  const drain = spawnSync(process.execPath, [__filename, '--child'], {
    env: {
      ...env, BENCH_RUNTIME: runtime, BENCH_OTLP_DRAIN: '20480', BENCH_COUNT_FILE: rx.countFile, TELEMETRY_SAMPLE_FIRST: '1000000000000',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${rx.port}`, OTEL_BSP_SCHEDULE_DELAY: '0', OTEL_BSP_MAX_QUEUE_SIZE: '100000',
    },
    encoding: 'utf8',
    timeout: 120000,
  });
  if (drain.status === 0 && drain.stdout !== '') {
    const m = JSON.parse(drain.stdout);
    console.log('\nOTLP sending (20,480 spans recorded in a burst, then sent in batches of 512 by the unref\'d sender)');
    console.log(`  send, CPU of the process per span     ${m.sendCpuNs.toFixed(0).padStart(8)} ns   (all sent in ${m.drainMs.toFixed(0)} ms)`);
  } else {
    console.log(`\nOTLP sending: failed\n${drain.stderr}`);
  }
  const exitCost = (extra) => {
    let best = Infinity;
    for (let rep = 0; rep < 5; rep++) {
      const t0 = process.hrtime.bigint();
      spawnSync(process.execPath, ['-e', `const Tel = require(${JSON.stringify(runtime)}); Tel.funcExit(Tel.funcEntry('f', 'a.js', 1, {}));`], {
        env: { ...env, ...extra },
      });
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return best;
  };
  const plain = exitCost({});
  const withOtlp = exitCost({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${rx.port}` });
  console.log(`  a one-call program, start to end      ${plain.toFixed(0).padStart(8)} ms off, ${withOtlp.toFixed(0)} ms with OTLP (its span sent at exit by a child node: +${(withOtlp - plain).toFixed(0)} ms)`);
  fs.rmSync(dir, { recursive: true, force: true });
  return eventsPerS;
}

async function main() {
  console.log(`node ${process.version}, ${os.cpus().length} CPUs; ns per call, best of 5`);
  const runs = [['this runtime', RUNTIME]];
  const i = process.argv.indexOf('--before');
  if (i > 0) runs.unshift(['before', path.join(path.resolve(process.argv[i + 1]), '_teleforge_tel.cjs')]);
  const rxDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-bench-rx-'));
  const countFile = path.join(rxDir, 'count');
  const { child: rxChild, port } = await startReceiver(countFile);
  const rx = { port, countFile };
  let summary;
  try {
    summary = runs.map(([label, rt]) => [label, runAll(rt, label, rx)]);
  } finally {
    rxChild.kill();
    fs.rmSync(rxDir, { recursive: true, force: true });
  }
  console.log('\nthroughput, every event written (200,000 varAssign, best of 3)');
  for (const [label, eps] of summary) console.log(`  ${label.padEnd(14)} ${eps === null ? 'n/a' : Math.round(eps) + ' events/s (' + (1e9 / eps).toFixed(0) + ' ns/event)'}`);
}


if (process.argv[2] === '--child') child();
else if (process.argv[2] === '--receiver') receiverMain();
else main();
