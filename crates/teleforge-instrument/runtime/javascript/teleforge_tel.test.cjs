'use strict';
// Tests for _teleforge_tel.cjs (node's built-in runner). From the repository root:
//   node --test crates/teleforge-instrument/runtime/javascript/
// Every scenario runs in a child process, so the runtime reads its configuration afresh; every
// child must exit 0 and print nothing at all on stdout or stderr.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const RUNTIME = path.join(__dirname, '_teleforge_tel.cjs');

// Scratch directories, removed when this test file's process exits.
const scratch = [];
process.on('exit', () => {
  for (const d of scratch) fs.rmSync(d, { recursive: true, force: true });
});
function tmpDir(prefix) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  scratch.push(d);
  return d;
}

const PRELUDE =
  "'use strict';\n" +
  'const Tel = require(process.env.TF_RUNTIME);\n' +
  "const fs = require('fs');\n" +
  'const done = (v) => fs.writeFileSync(process.env.RESULT_FILE, JSON.stringify(v));\n' +
  'const delay = (ms) => new Promise((r) => setTimeout(r, ms));\n';

function childEnv(dir, env) {
  const e = { ...process.env };
  for (const k of ['TELEMETRY_FILE', 'TELEMETRY_SAMPLE_FIRST', 'NODE_TEST_CONTEXT', 'NODE_OPTIONS']) delete e[k];
  e.TF_RUNTIME = RUNTIME;
  e.RESULT_FILE = path.join(dir, 'result.json');
  e.TELEMETRY_FILE = path.join(dir, 'events.jsonl');
  for (const [k, v] of Object.entries(env || {})) {
    if (v === undefined) delete e[k];
    else e[k] = v;
  }
  return e;
}

function readEvents(file) {
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) return null;
  const raw = fs.readFileSync(file, 'utf8');
  if (raw === '') return { raw: [], events: [] };
  assert.ok(raw.endsWith('\n'), 'event file ends with a newline');
  const lines = raw.slice(0, -1).split('\n');
  const events = lines.map((l, i) => {
    try {
      return JSON.parse(l);
    } catch (e) {
      assert.fail(`line ${i + 1} is not valid JSON: ${l.slice(0, 200)}`);
    }
  });
  return { raw: lines, events };
}

// Runs `code` (after PRELUDE) in a fresh node; returns the result passed to done() and the events.
function run(code, { env, status = 0, dir } = {}) {
  dir = dir || tmpDir('tf-js-');
  const e = childEnv(dir, env);
  const r = spawnSync(process.execPath, ['-e', PRELUDE + code], { env: e, cwd: dir, encoding: 'utf8', timeout: 120000 });
  assert.deepEqual(
    { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr },
    { status, signal: null, stdout: '', stderr: '' },
    'child exits cleanly and prints nothing'
  );
  const resultFile = path.join(dir, 'result.json');
  const result = fs.existsSync(resultFile) ? JSON.parse(fs.readFileSync(resultFile, 'utf8')) : undefined;
  const ev = e.TELEMETRY_FILE ? readEvents(e.TELEMETRY_FILE) : null;
  return { dir, result, raw: ev && ev.raw, events: ev && ev.events, env: e };
}

const COMMON = ['ts_unix_nano', 'kind', 'span_id', 'parent_span_id', 'thread', 'pid', 'code.function.name', 'code.file.path', 'code.line.number'];
const KEYS = {
  func_entry: [...COMMON, 'args'],
  func_exit: [...COMMON, 'duration_ns', 'results'],
  func_exit_error: [...COMMON, 'duration_ns', 'results', 'error'],
  loop_iter: [...COMMON, 'iteration'],
  var_assign: [...COMMON, 'variable', 'value'],
};

function checkShape(ev, raw) {
  const keys = Object.keys(ev);
  const want = ev.kind === 'func_exit' && 'error' in ev ? KEYS.func_exit_error : KEYS[ev.kind];
  assert.ok(want, `known kind ${ev.kind}`);
  assert.deepEqual(keys, want, 'fields and their order');
  assert.match(raw, /^\{"ts_unix_nano":\d{19},"kind":"/, 'ts_unix_nano is an integer');
  assert.ok(ev.span_id === null || /^[0-9a-f]{16}$/.test(ev.span_id), 'span_id is 16 hex or null');
  assert.ok(ev.kind === 'loop_iter' || ev.kind === 'var_assign' || ev.span_id !== null, 'function events have a span');
  assert.ok(ev.parent_span_id === null || /^[0-9a-f]{16}$/.test(ev.parent_span_id));
  assert.equal(typeof ev.thread, 'string');
  assert.ok(Number.isInteger(ev.pid));
  assert.equal(typeof ev['code.function.name'], 'string');
  assert.equal(typeof ev['code.file.path'], 'string');
  assert.ok(Number.isInteger(ev['code.line.number']));
  if (ev.kind === 'func_exit') {
    assert.match(raw, /,"duration_ns":\d+,"results":\[/, 'duration_ns is an integer');
    assert.ok(Array.isArray(ev.results));
    if ('error' in ev) assert.equal(typeof ev.error, 'string');
  }
  if (ev.kind === 'loop_iter') assert.ok(Number.isInteger(ev.iteration) && ev.iteration >= 1);
  if (ev.kind === 'var_assign') assert.equal(typeof ev.variable, 'string');
}

function checkAll(r) {
  assert.ok(r.events, 'an event file was written');
  r.events.forEach((ev, i) => checkShape(ev, r.raw[i]));
}

// Entry events by span id, and a helper naming an event's parent as "name(args)".
function index(events) {
  const entries = new Map();
  for (const e of events) if (e.kind === 'func_entry') entries.set(e.span_id, e);
  const label = (id) => {
    if (id === null) return null;
    const e = entries.get(id);
    assert.ok(e, `span ${id} has an entry event`);
    return e['code.function.name'] + (e.args && e.args.tag !== undefined ? ':' + e.args.tag : '');
  };
  return { entries, label };
}

// "child <- parent" for entries, "kind@span" for loop/var events, in file order.
function tree(events) {
  const { label } = index(events);
  const out = [];
  for (const e of events) {
    if (e.kind === 'func_entry') out.push(`${label(e.span_id)} <- ${label(e.parent_span_id)}`);
    else if (e.kind === 'loop_iter' || e.kind === 'var_assign') {
      out.push(`${e.kind}@${label(e.span_id)} <- ${label(e.parent_span_id)}`);
    }
  }
  return out;
}

function expectedIterations(total, first) {
  const out = [];
  for (let n = 1; n <= total; n++) if (n <= first || (n & (n - 1)) === 0) out.push(n);
  return out;
}

// ---------------------------------------------------------------------------------------------

test('disabled: no file, no descriptor, no async hooks, values pass through', () => {
  for (const value of [undefined, '']) {
    const dir = tmpDir('tf-js-');
    const r = run(
      `
      const fdCount = () => fs.readdirSync('/proc/self/fd').length;
      const before = fdCount();
      const exitListeners = process.listenerCount('exit');
      const resources = process.getActiveResourcesInfo().length;
      const obj = { a: 1 };
      const err = new Error('x');
      const span = Tel.funcEntry('f', 'a.js', 1, { obj });
      const res = {
        span,
        exitSame: Tel.funcExit(span, obj) === obj,
        exitUndef: Tel.funcExit(span) === undefined,
        errorSame: Tel.funcError(span, err) === err,
        loop: Tel.loopIter('f', 'a.js', 2),
        varSame: Tel.varAssign('f', 'a.js', 3, 'o', obj) === obj,
        fdDelta: fdCount() - before,
        files: fs.readdirSync('.'),
        started: [process.listenerCount('exit') - exitListeners, process.getActiveResourcesInfo().length - resources],
      };
      Promise.resolve().then(() => {
        res.promiseAsyncId = require('async_hooks').executionAsyncId();
        done(res);
      });
      `,
      { env: { TELEMETRY_FILE: value }, dir }
    );
    assert.deepEqual(r.result, {
      span: null, exitSame: true, exitUndef: true, errorSame: true, varSame: true, fdDelta: 0, files: [], promiseAsyncId: 0,
      started: [0, 0],
    });
    assert.deepEqual(fs.readdirSync(dir), ['result.json'], 'no file created');
  }
});

test('enabled: every kind has the spec fields in order; entry and exit share the span', () => {
  const r = run(`
    const before = BigInt(Date.now()) * 1000000n;
    function add(a, b) {
      const s = Tel.funcEntry('m.add', 'src/m.js', 10, { a, b });
      let t = 0;
      for (const x of [a, b]) { Tel.loopIter('m.add', 'src/m.js', 12); t = Tel.varAssign('m.add', 'src/m.js', 13, 't', t + x); }
      return Tel.funcExit(s, t);
    }
    function noResult() { const s = Tel.funcEntry('m.none', 'src/m.js', 20, {}); Tel.funcExit(s); }
    function fails() {
      const s = Tel.funcEntry('m.fails', 'src/m.js', 30, {});
      try { throw new TypeError('bad input'); } catch (e) { throw Tel.funcError(s, e); }
    }
    const sum = add(2, 3);
    noResult();
    let caught; try { fails(); } catch (e) { caught = e; }
    Tel.loopIter('top', 'src/m.js', 40);
    const after = BigInt(Date.now() + 1) * 1000000n;
    done({ sum, caught: caught instanceof TypeError, pid: process.pid, before: String(before), after: String(after) });
  `);
  assert.deepEqual([r.result.sum, r.result.caught], [5, true]);
  checkAll(r);
  const ev = r.events;
  assert.deepEqual(ev.map((e) => e.kind), [
    'func_entry', 'loop_iter', 'var_assign', 'loop_iter', 'var_assign', 'func_exit',
    'func_entry', 'func_exit', 'func_entry', 'func_exit', 'loop_iter',
  ]);
  const before = BigInt(r.result.before);
  const after = BigInt(r.result.after);
  for (const raw of r.raw) {
    const ts = BigInt(/^\{"ts_unix_nano":(\d+),/.exec(raw)[1]);
    assert.ok(ts >= before - 5000000n && ts <= after + 5000000n, 'ts_unix_nano is wall-clock nanoseconds');
  }
  for (const e of ev) {
    assert.equal(e.pid, r.result.pid);
    assert.equal(e.thread, 'main');
  }
  const [entry, l1, v1, , v2, exit] = ev;
  assert.deepEqual(entry.args, { a: 2, b: 3 });
  assert.equal(entry.parent_span_id, null);
  assert.equal(entry['code.function.name'], 'm.add');
  assert.equal(entry['code.file.path'], 'src/m.js');
  assert.equal(entry['code.line.number'], 10);
  assert.equal(exit.span_id, entry.span_id);
  assert.equal(exit['code.line.number'], 10);
  assert.deepEqual(exit.results, [5]);
  assert.ok(!('error' in exit));
  const durationNs = BigInt(/"duration_ns":(\d+)/.exec(r.raw[5])[1]);
  const entryTs = BigInt(/^\{"ts_unix_nano":(\d+)/.exec(r.raw[0])[1]);
  const exitTs = BigInt(/^\{"ts_unix_nano":(\d+)/.exec(r.raw[5])[1]);
  assert.equal(durationNs, exitTs - entryTs, 'duration_ns = exit ts - entry ts');
  assert.equal(l1.span_id, entry.span_id);
  assert.equal(l1.iteration, 1);
  assert.equal(ev[3].iteration, 2);
  assert.deepEqual([v1.variable, v1.value, v2.value], ['t', 2, 5]);
  assert.deepEqual(ev[7].results, [], 'no result: empty results');
  assert.equal(ev[7].span_id, ev[6].span_id);
  assert.equal(ev[9].error, 'TypeError: bad input');
  assert.deepEqual(ev[9].results, []);
  assert.equal(ev[9].span_id, ev[8].span_id);
  assert.equal(ev[10].span_id, null);
  assert.equal(ev[10].parent_span_id, null);
  const ids = ev.filter((e) => e.kind === 'func_entry').map((e) => e.span_id);
  assert.equal(new Set(ids).size, ids.length, 'span ids are unique');
});

test('destructured functions work (no dependence on this)', () => {
  const r = run(`
    const { funcEntry, funcExit, funcError, loopIter, varAssign } = require(process.env.TF_RUNTIME);
    const s = funcEntry('f', 'd.js', 1, { x: 1 });
    loopIter('f', 'd.js', 2);
    varAssign('f', 'd.js', 3, 'y', 2);
    const e = new Error('e');
    const s2 = funcEntry('g', 'd.js', 4, {});
    done({ same: funcError(s2, e) === e, r: funcExit(s, 7) });
  `);
  assert.deepEqual(r.result, { same: true, r: 7 });
  checkAll(r);
  assert.deepEqual(r.events.map((e) => e.kind), ['func_entry', 'loop_iter', 'var_assign', 'func_entry', 'func_exit', 'func_exit']);
});

test('two functions on one line are two sites, each with its own name and counter', () => {
  const r = run(`
    for (let i = 0; i < 150; i++) {
      Tel.funcExit(Tel.funcEntry('a.<anonymous>', 'one.js', 7, {}));
      Tel.funcExit(Tel.funcEntry('b.<anonymous>', 'one.js', 7, {}));
    }
    done({});
  `);
  checkAll(r);
  const entries = r.events.filter((e) => e.kind === 'func_entry');
  const a = entries.filter((e) => e['code.function.name'] === 'a.<anonymous>').length;
  const b = entries.filter((e) => e['code.function.name'] === 'b.<anonymous>').length;
  // 100 each, plus occurrence 128 of each site: the counters are separate.
  assert.deepEqual([a, b], [101, 101]);
});

test('nested synchronous calls: parent_span_id is the caller', () => {
  const r = run(`
    function a() { const s = Tel.funcEntry('a', 'n.js', 1, {}); b(1); b(2); return Tel.funcExit(s, 1); }
    function b(tag) { const s = Tel.funcEntry('b', 'n.js', 2, { tag }); c(tag); return Tel.funcExit(s, 2); }
    function c(tag) {
      const s = Tel.funcEntry('c', 'n.js', 3, { tag });
      Tel.loopIter('c', 'n.js', 4);
      Tel.varAssign('c', 'n.js', 5, 'v', 3);
      return Tel.funcExit(s, 3);
    }
    function rec(n) { const s = Tel.funcEntry('rec', 'n.js', 6, { tag: n }); if (n > 0) rec(n - 1); return Tel.funcExit(s, n); }
    a();
    c(9);
    rec(2);
    done(true);
  `);
  checkAll(r);
  assert.deepEqual(tree(r.events), [
    'a <- null',
    'b:1 <- a',
    'c:1 <- b:1',
    'loop_iter@c:1 <- b:1',
    'var_assign@c:1 <- b:1',
    'b:2 <- a',
    'c:2 <- b:2',
    'loop_iter@c:2 <- b:2',
    'var_assign@c:2 <- b:2',
    'c:9 <- null',
    'loop_iter@c:9 <- null',
    'var_assign@c:9 <- null',
    'rec:2 <- null',
    'rec:1 <- rec:2',
    'rec:0 <- rec:1',
  ]);
});

const ASYNC_FUNCS = `
  async function inner(tag, ms) {
    const s = Tel.funcEntry('inner', 'a.js', 1, { tag });
    try {
      await delay(ms);
      leaf(tag);
      await delay(0);
      leaf(tag + '+');
      return Tel.funcExit(s, tag);
    } catch (e) {
      throw Tel.funcError(s, e);
    }
  }
  function leaf(tag) {
    const s = Tel.funcEntry('leaf', 'a.js', 2, { tag });
    Tel.varAssign('leaf', 'a.js', 3, 'tag', tag);
    return Tel.funcExit(s, tag);
  }
  async function quick(tag) { const s = Tel.funcEntry('quick', 'a.js', 4, { tag }); return Tel.funcExit(s, tag); }
`;

test('awaited async calls: parents follow the awaiting function, not the last callee', () => {
  const r = run(`${ASYNC_FUNCS}
    async function outer() {
      const s = Tel.funcEntry('outer', 'a.js', 10, { tag: 'O' });
      await inner('i1', 2);
      leaf('o1');
      await inner('i2', 1);
      leaf('o2');
      const p = inner('i3', 1);   // not awaited yet
      leaf('o3');                 // runs while i3 is suspended
      await p;
      await quick('q');           // returns before awaiting
      leaf('o4');
      Tel.loopIter('outer', 'a.js', 11);
      await new Promise((res) => setTimeout(() => { leaf('timer'); res(); }, 1));
      await Promise.resolve().then(() => leaf('then'));
      return Tel.funcExit(s, 'O');
    }
    outer().then(() => { leaf('top'); done(true); });
  `);
  checkAll(r);
  assert.deepEqual(tree(r.events), [
    'outer:O <- null',
    'inner:i1 <- outer:O',
    'leaf:i1 <- inner:i1',
    'var_assign@leaf:i1 <- inner:i1',
    'leaf:i1+ <- inner:i1',
    'var_assign@leaf:i1+ <- inner:i1',
    'leaf:o1 <- outer:O',
    'var_assign@leaf:o1 <- outer:O',
    'inner:i2 <- outer:O',
    'leaf:i2 <- inner:i2',
    'var_assign@leaf:i2 <- inner:i2',
    'leaf:i2+ <- inner:i2',
    'var_assign@leaf:i2+ <- inner:i2',
    'leaf:o2 <- outer:O',
    'var_assign@leaf:o2 <- outer:O',
    'inner:i3 <- outer:O',
    'leaf:o3 <- outer:O',
    'var_assign@leaf:o3 <- outer:O',
    'leaf:i3 <- inner:i3',
    'var_assign@leaf:i3 <- inner:i3',
    'leaf:i3+ <- inner:i3',
    'var_assign@leaf:i3+ <- inner:i3',
    'quick:q <- outer:O',
    'leaf:o4 <- outer:O',
    'var_assign@leaf:o4 <- outer:O',
    'loop_iter@outer:O <- null',
    'leaf:timer <- outer:O',
    'var_assign@leaf:timer <- outer:O',
    'leaf:then <- outer:O',
    'var_assign@leaf:then <- outer:O',
    'leaf:top <- null',
    'var_assign@leaf:top <- null',
  ]);
  const exits = r.events.filter((e) => e.kind === 'func_exit');
  const entries = r.events.filter((e) => e.kind === 'func_entry');
  assert.equal(exits.length, entries.length);
  assert.deepEqual(new Set(exits.map((e) => e.span_id)), new Set(entries.map((e) => e.span_id)));
});

test('concurrent async tasks keep independent parents (Promise.all, interleaved awaits)', () => {
  const r = run(`${ASYNC_FUNCS}
    async function task(tag, delays) {
      const s = Tel.funcEntry('task', 'a.js', 20, { tag });
      for (const d of delays) {
        await delay(d);
        leaf(tag);
        await inner(tag + '.' + d, d);
        leaf(tag);
      }
      return Tel.funcExit(s, tag);
    }
    async function main() {
      const s = Tel.funcEntry('main', 'a.js', 21, { tag: 'M' });
      const out = await Promise.all([task('A', [6, 1, 6]), task('B', [1, 6, 1]), task('C', [0, 0, 0]), quick('Q')]);
      leaf('M');
      await Promise.race([inner('R1', 1), inner('R2', 30)]);
      leaf('M2');
      Tel.funcExit(s, out);
    }
    main().then(() => done(true));
  `);
  checkAll(r);
  const { label } = index(r.events);
  let checked = 0;
  for (const e of r.events) {
    if (e.kind !== 'func_entry') continue;
    const name = e['code.function.name'];
    const tag = e.args.tag;
    const parent = label(e.parent_span_id);
    if (name === 'task' || name === 'quick') assert.equal(parent, 'main:M', `${name}:${tag}`);
    else if (name === 'inner' && /^[ABC]\./.test(tag)) assert.equal(parent, 'task:' + tag[0], `inner:${tag}`);
    else if (name === 'inner') assert.equal(parent, 'main:M', `inner:${tag}`);
    else if (name === 'leaf' && /^[ABC]$/.test(tag)) assert.equal(parent, 'task:' + tag, `leaf:${tag}`);
    else if (name === 'leaf' && /^[ABCR]/.test(tag)) assert.equal(parent, 'inner:' + tag.replace(/\+$/, ''), `leaf:${tag}`);
    else if (name === 'leaf') assert.equal(parent, 'main:M', `leaf:${tag}`);
    else assert.equal(parent, null);
    checked++;
  }
  assert.ok(checked > 40, `checked ${checked} entries`);
  for (const e of r.events) {
    if (e.kind === 'var_assign') {
      const entry = index(r.events).entries.get(e.span_id);
      assert.equal(entry.args.tag, e.value, 'var_assign carries its own leaf span');
    }
  }
});

test('async recursion and async callbacks (Array.map, class methods) get their own parents', () => {
  const r = run(`
    async function walk(node) {
      const s = Tel.funcEntry('walk', 'r.js', 1, { tag: node.name });
      await delay(node.ms || 0);
      await Promise.all((node.kids || []).map((k) => walk(k)));
      Tel.varAssign('walk', 'r.js', 2, 'tag', node.name);
      return Tel.funcExit(s, node.name);
    }
    class Svc {
      async handle(tag) {
        const s = Tel.funcEntry('Svc.handle', 'r.js', 3, { tag });
        await delay(tag.length);
        const out = await Promise.all([1, 2].map(async (i) => {
          const s2 = Tel.funcEntry('Svc.handle.cb', 'r.js', 4, { tag: tag + i });
          await delay(3 - i);
          Tel.varAssign('Svc.handle.cb', 'r.js', 5, 'tag', tag + i);
          return Tel.funcExit(s2, i);
        }));
        return Tel.funcExit(s, out);
      }
    }
    const tree = { name: 'r', kids: [
      { name: 'a', ms: 3, kids: [{ name: 'a1', ms: 1 }, { name: 'a2' }] },
      { name: 'b', kids: [{ name: 'b1', ms: 2, kids: [{ name: 'b11' }] }, { name: 'b2', ms: 1 }] },
    ] };
    (async () => {
      await walk(tree);
      const svc = new Svc();
      await Promise.all([svc.handle('x'), svc.handle('yy')]);
      done(true);
    })();
  `);
  checkAll(r);
  const { label } = index(r.events);
  const parents = {};
  for (const e of r.events) {
    if (e.kind === 'func_entry') parents[label(e.span_id)] = label(e.parent_span_id);
    if (e.kind === 'var_assign') assert.equal(label(e.span_id).split(':')[1], e.value, 'var_assign in its own span');
  }
  assert.deepEqual(parents, {
    'walk:r': null,
    'walk:a': 'walk:r', 'walk:b': 'walk:r',
    'walk:a1': 'walk:a', 'walk:a2': 'walk:a',
    'walk:b1': 'walk:b', 'walk:b2': 'walk:b', 'walk:b11': 'walk:b1',
    'Svc.handle:x': null, 'Svc.handle:yy': null,
    'Svc.handle.cb:x1': 'Svc.handle:x', 'Svc.handle.cb:x2': 'Svc.handle:x',
    'Svc.handle.cb:yy1': 'Svc.handle:yy', 'Svc.handle.cb:yy2': 'Svc.handle:yy',
  });
});

test('generators: the caller regains its span after a yield and after the generator returns', () => {
  const r = run(`${ASYNC_FUNCS}
    function* gen() { const s = Tel.funcEntry('gen', 'g.js', 1, { tag: 'G' }); leaf('g0'); yield 1; yield 2; return Tel.funcExit(s, 3); }
    function driver() {
      const s = Tel.funcEntry('driver', 'g.js', 2, { tag: 'D' });
      const g = gen();
      g.next();
      leaf('afterYield');
      g.next(); g.next();
      leaf('afterReturn');
      return Tel.funcExit(s, 0);
    }
    driver();
    leaf('top');
    done(true);
  `);
  checkAll(r);
  assert.deepEqual(tree(r.events).filter((l) => !l.startsWith('var_assign')), [
    'driver:D <- null',
    'gen:G <- driver:D',
    'leaf:g0 <- gen:G',
    'leaf:afterYield <- driver:D',
    'leaf:afterReturn <- driver:D',
    'leaf:top <- null',
  ]);
});

test('errors: funcError records error, returns the same object, restores the parent', () => {
  const r = run(`${ASYNC_FUNCS}
    class ValidationError extends Error {}
    const thrown = [];
    function fails(tag, what) {
      const s = Tel.funcEntry('fails', 'e.js', 1, { tag });
      try {
        leaf(tag);
        throw what;
      } catch (e) {
        const back = Tel.funcError(s, e);
        thrown.push(back === e);
        throw back;
      }
    }
    async function rejects(tag) {
      const s = Tel.funcEntry('rejects', 'e.js', 2, { tag });
      try { await delay(1); throw new RangeError('later'); } catch (e) { throw Tel.funcError(s, e); }
    }
    const hit = [];
    const msgGetter = new Error(); Object.defineProperty(msgGetter, 'message', { get() { hit.push('message'); return 'x'; } });
    const named = new Error('m'); named.name = 'CustomName';
    async function main() {
      const s = Tel.funcEntry('main', 'e.js', 3, { tag: 'M' });
      const values = [new ValidationError('boom'), 'plain string', 42, { code: 1 }, null, undefined, msgGetter, named, new Proxy({}, { get() { hit.push('proxy'); } })];
      for (let i = 0; i < values.length; i++) {
        try { fails('f' + i, values[i]); } catch (e) { thrown.push(e === values[i]); }
        leaf('m' + i);
      }
      try { await rejects('r'); } catch (e) { thrown.push(e instanceof RangeError); }
      leaf('afterReject');
      return Tel.funcExit(s, 1);
    }
    main().then(() => done({ thrown, hit }));
  `);
  checkAll(r);
  assert.ok(r.result.thrown.every(Boolean), 'same error objects all the way');
  assert.deepEqual(r.result.hit, [], 'no getter or trap ran');
  const { label } = index(r.events);
  const errs = r.events.filter((e) => e.kind === 'func_exit' && 'error' in e).map((e) => [label(e.span_id), e.error, e.results]);
  assert.deepEqual(errs, [
    ['fails:f0', 'ValidationError: boom', []],
    ['fails:f1', 'plain string', []],
    ['fails:f2', '42', []],
    ['fails:f3', '<Object>', []],
    ['fails:f4', 'null', []],
    ['fails:f5', 'undefined', []],
    ['fails:f6', 'Error', []],
    ['fails:f7', 'CustomName: m', []],
    ['fails:f8', '<Object>', []],
    ['rejects:r', 'RangeError: later', []],
  ]);
  const okExits = r.events.filter((e) => e.kind === 'func_exit' && !('error' in e));
  assert.ok(okExits.length > 0 && okExits.every((e) => !('error' in e)));
  for (const line of tree(r.events)) {
    if (/^leaf:m\d|^leaf:afterReject|^fails|^rejects/.test(line)) assert.match(line, /<- main:M$/, line);
    if (/^leaf:f\d/.test(line)) assert.match(line, /<- fails:f\d$/, line);
  }
});

test('value rendering never runs user code', () => {
  const r = run(`
    const hits = [];
    const hit = (what) => () => { hits.push(what); throw new Error(what); };
    const getterObj = { get boom() { return hit('getter')(); } };
    const throwingHandler = new Proxy({}, { get(_, k) { hits.push('trap ' + String(k)); throw new Error('trap'); } });
    const proxy = new Proxy({}, throwingHandler);
    const proxyArr = new Proxy([1, 2], throwingHandler);
    const proxyFn = new Proxy(function f() {}, throwingHandler);
    const { proxy: revoked, revoke } = Proxy.revocable({}, {}); revoke();
    const prim = { toString: hit('toString'), valueOf: hit('valueOf'), [Symbol.toPrimitive]: hit('toPrimitive'), toJSON: hit('toJSON') };
    class Cart { constructor() { this.items = 3; } get total() { return hit('cart getter')(); } }
    class StaticName { static get name() { return hit('static name')(); } }
    class MyArr extends Array {}
    const protoIsProxy = Object.create(proxy);
    const fnNameGetter = function () {}; Object.defineProperty(fnNameGetter, 'name', { get: hit('fn name') });
    const ctorGetterProto = {}; Object.defineProperty(ctorGetterProto, 'constructor', { get: hit('ctor getter') });
    BigInt.prototype.toJSON = hit('bigint toJSON');
    function add(a, b) { return a + b; }
    const anon = [function () {}][0];
    const hi = 'a'.repeat(255) + '\\u{1F600}' + 'b';
    const values = {
      null: null, undef: undefined, t: true, f: false, int: 42, float: 1.5, negzero: -0, nan: NaN, inf: Infinity, ninf: -Infinity,
      big: 12345678901234567890n, short: 'hé', long: 'x'.repeat(300), exact: 'y'.repeat(256), surrogate: hi,
      add, anon, arrow: () => 1, klass: Cart,
      arr: [1, 2, 3], myArr: MyArr.from([1, 2]), map: new Map([[1, 2], [3, 4]]), set: new Set([1]), u8: new Uint8Array(4), buf: Buffer.alloc(2),
      getterObj, proxy, proxyArr, proxyFn, revoked, prim, cart: new Cart(), staticName: new StaticName(), protoIsProxy,
      fnNameGetter, ctorGetter: Object.create(ctorGetterProto), nullProto: Object.create(null), date: new Date(0),
      err: new TypeError('t'), sym: Symbol('s'), boxed: new Number(3), promise: Promise.resolve(1),
    };
    const same = [];
    for (const [k, v] of Object.entries(values)) same.push(Tel.varAssign('v', 'v.js', 1, k, v) === v || (v !== v));
    const s = Tel.funcEntry('f', 'v.js', 2, { proxy, getterObj, prim, cart: values.cart });
    same.push(Tel.funcExit(s, proxy) === proxy);
    const s2 = Tel.funcEntry('g', 'v.js', 3, proxy);           // args itself a Proxy
    same.push(Tel.funcExit(s2, prim) === prim);
    done({ hits, same });
  `);
  checkAll(r);
  assert.deepEqual(r.result.hits, [], 'no getter, trap, toString, valueOf, toPrimitive or toJSON ran');
  assert.ok(r.result.same.every(Boolean), 'values pass through');
  const got = {};
  for (const e of r.events) if (e.kind === 'var_assign') got[e.variable] = e.value;
  assert.deepEqual(got, {
    null: null, undef: null, t: true, f: false, int: 42, float: 1.5, negzero: 0, nan: 'NaN', inf: 'Infinity', ninf: '-Infinity',
    big: '12345678901234567890', short: 'hé', long: 'x'.repeat(256) + '…', exact: 'y'.repeat(256),
    surrogate: 'a'.repeat(255) + '\u{1F600}' + '…',
    add: '<function add>', anon: '<function>', arrow: '<function arrow>', klass: '<function Cart>',
    arr: '<Array len=3>', myArr: '<MyArr len=2>', map: '<Map len=2>', set: '<Set len=1>', u8: '<Uint8Array len=4>', buf: '<Buffer len=2>',
    getterObj: '<Object>', proxy: '<Object>', proxyArr: '<Array>', proxyFn: '<function>', revoked: '<Object>', prim: '<Object>',
    cart: '<Cart>', staticName: '<Object>', protoIsProxy: '<Object>', fnNameGetter: '<function>', ctorGetter: '<Object>',
    nullProto: '<Object>', date: '<Date>', err: '<TypeError>', sym: '<symbol>', boxed: '<Number>', promise: '<Promise>',
  });
  const entries = r.events.filter((e) => e.kind === 'func_entry');
  assert.deepEqual(entries[0].args, { proxy: '<Object>', getterObj: '<Object>', prim: '<Object>', cart: '<Cart>' });
  assert.deepEqual(entries[1].args, {});
  const exits = r.events.filter((e) => e.kind === 'func_exit');
  assert.deepEqual(exits.map((e) => e.results), [['<Object>'], ['<Object>']]);
});

test('a user Error.prepareStackTrace / stackTraceLimit is restored and never called', () => {
  const r = run(`
    let called = 0;
    const mine = (e, cs) => { called++; return 'mine'; };
    Error.prepareStackTrace = mine;
    Error.stackTraceLimit = 7;
    function f() { const s = Tel.funcEntry('f', 'p.js', 1, {}); Tel.loopIter('f', 'p.js', 2); Tel.varAssign('f', 'p.js', 3, 'x', 1); return Tel.funcExit(s, 1); }
    f(); f();
    const calledBefore = called;
    const same = Error.prepareStackTrace === mine;
    const limit = Error.stackTraceLimit;
    const stack = new Error('e').stack;
    done({ calledBefore, same, limit, stack });
  `);
  assert.deepEqual(r.result, { calledBefore: 0, same: true, limit: 7, stack: 'mine' });
  assert.equal(r.events.length, 8);
  const r2 = run(`
    const d0 = Object.getOwnPropertyDescriptor(Error, 'prepareStackTrace');
    function f() { const s = Tel.funcEntry('f', 'p.js', 1, {}); return Tel.funcExit(s, 1); }
    f();
    const d1 = Object.getOwnPropertyDescriptor(Error, 'prepareStackTrace');
    done({ same: (d0 === undefined && d1 === undefined) || (d0 !== undefined && d1 !== undefined && d0.value === d1.value), limit: Error.stackTraceLimit });
  `);
  assert.deepEqual(r2.result, { same: true, limit: 10 });
});

test('sampling: first N per site, then powers of two; func_exit iff func_entry', () => {
  const code = `
    for (let i = 0; i < 100000; i++) Tel.loopIter('f', 's.js', 7);
    function hot(i) { const s = Tel.funcEntry('hot', 's.js', 9, { i }); return Tel.funcExit(s, i); }
    for (let i = 0; i < 1000; i++) hot(i);
    for (let i = 0; i < 300; i++) Tel.varAssign('f', 's.js', 12, 'x', i);
    // a loop on the same line as a function site keeps its own counter
    for (let i = 0; i < 3; i++) Tel.loopIter('f', 's.js', 9);
    done(true);
  `;
  const cases = [
    [undefined, 100],
    ['5', 5],
    ['0', 0],
    ['1000', 1000],
    ['not a number', 100],
  ];
  for (const [env, first] of cases) {
    const r = run(code, { env: { TELEMETRY_SAMPLE_FIRST: env } });
    checkAll(r);
    const loops = r.events.filter((e) => e.kind === 'loop_iter' && e['code.line.number'] === 7).map((e) => e.iteration);
    assert.deepEqual(loops, expectedIterations(100000, first), `loop, first=${env}`);
    if (first === 100) {
      assert.equal(loops.length, 100 + 10, '100 + #powers of two in 101..100000');
    }
    const entries = r.events.filter((e) => e.kind === 'func_entry');
    assert.deepEqual(entries.map((e) => e.args.i + 1), expectedIterations(1000, first), `funcs, first=${env}`);
    const exits = r.events.filter((e) => e.kind === 'func_exit');
    assert.deepEqual(exits.map((e) => e.span_id), entries.map((e) => e.span_id), 'one exit per recorded entry');
    assert.deepEqual(exits.map((e) => e.results[0] + 1), expectedIterations(1000, first));
    const vars = r.events.filter((e) => e.kind === 'var_assign').map((e) => e.value + 1);
    assert.deepEqual(vars, expectedIterations(300, first), `vars, first=${env}`);
    const loops9 = r.events.filter((e) => e.kind === 'loop_iter' && e['code.line.number'] === 9).map((e) => e.iteration);
    assert.deepEqual(loops9, expectedIterations(3, first));
  }
});

const WORKER_CODE = `
  const { Worker, threadId } = require('worker_threads');
  const body = \`
    const Tel = require(process.env.TF_RUNTIME);
    const { threadId, parentPort, workerData } = require('worker_threads');
    const long = 'w'.repeat(400);
    function work(tag) {
      const s = Tel.funcEntry('work', 'w.js', 1, { tag });
      for (let i = 0; i < workerData.n; i++) {
        Tel.loopIter('work', 'w.js', 2);
        Tel.varAssign('work', 'w.js', 3, 'v', long + i);
      }
      return Tel.funcExit(s, tag);
    }
    work(threadId);
    parentPort.postMessage(threadId);
  \`;
  const N = 500;
  const workers = [0, 1].map(() => new Worker(body, { eval: true, workerData: { n: N } }));
  const ids = workers.map((w) => new Promise((res, rej) => { w.once('message', res); w.once('error', rej); }));
  const exits = workers.map((w) => new Promise((res) => w.once('exit', res)));
  const long = 'w'.repeat(400);
  function work(tag) {
    const s = Tel.funcEntry('work', 'w.js', 1, { tag });
    for (let i = 0; i < N; i++) {
      Tel.loopIter('work', 'w.js', 2);
      Tel.varAssign('work', 'w.js', 3, 'v', long + i);
    }
    return Tel.funcExit(s, tag);
  }
  work(threadId);
  Promise.all(ids).then(async (ids) => { await Promise.all(exits); done({ ids, mainThreadId: threadId }); });
`;

test('worker threads: thread is worker-<threadId>; 2 workers + main x 500 events, exact and valid', () => {
  const r = run(WORKER_CODE, { env: { TELEMETRY_SAMPLE_FIRST: '1000000' } });
  checkAll(r);
  const { ids } = r.result;
  assert.equal(ids.length, 2);
  const threads = ['main', ...ids.map((id) => 'worker-' + id)];
  for (const t of threads) {
    const mine = r.events.filter((e) => e.thread === t);
    assert.equal(mine.filter((e) => e.kind === 'var_assign').length, 500, t);
    assert.equal(mine.filter((e) => e.kind === 'loop_iter').length, 500, t);
    const entry = mine.filter((e) => e.kind === 'func_entry');
    assert.equal(entry.length, 1);
    assert.equal(entry[0].args.tag, t === 'main' ? 0 : Number(t.slice(7)));
    for (const e of mine) if (e.kind !== 'func_entry' && e.kind !== 'func_exit') assert.equal(e.span_id, entry[0].span_id);
  }
  assert.equal(r.events.length, 3 * (500 + 500 + 2));
  assert.ok(r.events.every((e) => threads.includes(e.thread)));
  // One counter per site per process, shared with the workers.
  const iterations = r.events.filter((e) => e.kind === 'loop_iter').map((e) => e.iteration).sort((a, b) => a - b);
  assert.deepEqual(iterations, Array.from({ length: 1500 }, (_, i) => i + 1));
});

test('worker threads share the per-process sampling counters', () => {
  const r = run(WORKER_CODE);
  checkAll(r);
  const iterations = r.events.filter((e) => e.kind === 'loop_iter').map((e) => e.iteration).sort((a, b) => a - b);
  assert.deepEqual(iterations, expectedIterations(1500, 100));
  const entries = r.events.filter((e) => e.kind === 'func_entry');
  assert.equal(entries.length, 3);
});

test('several processes appending to one file: every line is valid JSON', async () => {
  const dir = tmpDir('tf-js-');
  const env = childEnv(dir, { TELEMETRY_SAMPLE_FIRST: '1000000' });
  // A 3000-character variable name (names are not cut) makes each line ~3.3 kB.
  const code = PRELUDE + "const long = 'p'.repeat(3000); for (let i = 0; i < 2000; i++) Tel.varAssign('p', 'p.js', 1, long, i);";
  const procs = [0, 1, 2].map(
    () =>
      new Promise((resolve) => {
        const c = spawn(process.execPath, ['-e', code], { env, cwd: dir });
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.stderr.on('data', (d) => (out += d));
        c.on('close', (status) => resolve({ status, out }));
      })
  );
  for (const p of await Promise.all(procs)) assert.deepEqual(p, { status: 0, out: '' });
  const { events, raw } = readEvents(env.TELEMETRY_FILE);
  assert.equal(events.length, 6000);
  events.forEach((e, i) => checkShape(e, raw[i]));
  assert.equal(new Set(events.map((e) => e.pid)).size, 3);
});

test('events written before process.exit are all in the file', () => {
  const r = run(
    `
    const s = Tel.funcEntry('f', 'x.js', 1, {});
    for (let i = 0; i < 50; i++) Tel.loopIter('f', 'x.js', 2);
    Tel.funcExit(s, 1);
    process.exit(3);
    `,
    { status: 3 }
  );
  checkAll(r);
  assert.equal(r.events.length, 52);
});

test('unwritable TELEMETRY_FILE: no throw, nothing printed, telemetry off', () => {
  const base = tmpDir('tf-js-');
  const plainFile = path.join(base, 'file');
  fs.writeFileSync(plainFile, '');
  // ENOENT, EISDIR, ENOTDIR: unwritable even for root.
  for (const target of [path.join(base, 'missing', 'dir', 'events.jsonl'), base, path.join(plainFile, 'events.jsonl')]) {
    const r = run(
      `
      const o = {};
      const s = Tel.funcEntry('f', 'u.js', 1, { o });
      Tel.loopIter('f', 'u.js', 2);
      const e = new Error('x');
      done({ span: s, v: Tel.varAssign('f', 'u.js', 3, 'o', o) === o, x: Tel.funcExit(s, o) === o, e: Tel.funcError(s, e) === e });
      `,
      { env: { TELEMETRY_FILE: target } }
    );
    assert.deepEqual(r.result, { span: null, v: true, x: true, e: true });
  }
  assert.ok(!fs.existsSync(path.join(base, 'missing')));
});

test("CommonJS 'use strict' file and a package with type=module both load the runtime", () => {
  const dir = tmpDir('tf-js-');
  fs.copyFileSync(RUNTIME, path.join(dir, '_teleforge_tel.cjs'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}\n');
  fs.writeFileSync(
    path.join(dir, 'main.cjs'),
    "'use strict';\nconst Tel = require('./_teleforge_tel.cjs');\n" +
      "function f(x) { const s = Tel.funcEntry('main.f', 'main.cjs', 3, { x }); return Tel.funcExit(s, x * 2); }\n" +
      "require('fs').writeFileSync(process.env.RESULT_FILE, JSON.stringify(f(21)));\n"
  );
  const env = childEnv(dir);
  const r = spawnSync(process.execPath, ['main.cjs'], { cwd: dir, env, encoding: 'utf8' });
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
  assert.equal(fs.readFileSync(env.RESULT_FILE, 'utf8'), '42');
  const { events, raw } = readEvents(env.TELEMETRY_FILE);
  events.forEach((e, i) => checkShape(e, raw[i]));
  assert.deepEqual(events.map((e) => [e.kind, e['code.function.name']]), [['func_entry', 'main.f'], ['func_exit', 'main.f']]);
});

// ---- buffering (issue 13): no system call per event, exit paths, event-loop and thread order ----

function runRaw(code, { env, dir } = {}) {
  dir = dir || tmpDir('tf-js-');
  const e = childEnv(dir, { TELEMETRY_SAMPLE_FIRST: '1000000000000', ...(env || {}) });
  const r = spawnSync(process.execPath, ['-e', PRELUDE + code], { env: e, cwd: dir, encoding: 'utf8', timeout: 120000 });
  const resultFile = path.join(dir, 'result.json');
  const result = fs.existsSync(resultFile) ? JSON.parse(fs.readFileSync(resultFile, 'utf8')) : undefined;
  const ev = readEvents(e.TELEMETRY_FILE) || { raw: [], events: [] };
  ev.events.forEach((x, i) => checkShape(x, ev.raw[i]));
  return { r, result, events: ev.events };
}

const RECORD = `
  function work(tag, n) {
    for (let i = 0; i < n; i++) {
      const s = Tel.funcEntry('m.' + tag, 'm.js', 1, { i });
      Tel.loopIter('m.' + tag, 'm.js', 2);
      Tel.funcExit(s, i);
    }
  }
  work('main', 300);
`;

test('events survive the end of the program, process.exit, an uncaught exception and an unhandled rejection', () => {
  for (const [tail, status, stderr] of [
    ['', 0, ''],
    ['process.exit(3);', 3, ''],
    ["throw new Error('boom');", 1, 'boom'],
    ["Promise.reject(new Error('nope'));", 1, 'nope'],
    ["setTimeout(() => { work('late', 10); process.exitCode = 4; }, 5);", 4, ''],
  ]) {
    const { r, events } = runRaw(RECORD + tail);
    assert.equal(r.status, status, r.stderr);
    assert.ok(stderr ? r.stderr.includes(stderr) : r.stderr === '', r.stderr);
    assert.equal(events.filter((e) => e['code.function.name'] === 'm.main').length, 900, tail);
    if (status === 4) assert.equal(events.filter((e) => e['code.function.name'] === 'm.late').length, 30);
  }
});

test('worker threads: events survive the worker ending and process.exit in the worker; lines whole', () => {
  const { r, events } = runRaw(`
    const { Worker } = require('worker_threads');
    const body = (tail) => "const Tel = require(process.env.TF_RUNTIME);" +
      "for (let i = 0; i < 500; i++) Tel.varAssign('m.w', 'w.js', 1, 'x', 'y'.repeat(300));" + tail;
    const ws = [new Worker(body(''), { eval: true }), new Worker(body('process.exit(0);'), { eval: true })];
    ${RECORD}
    Promise.all(ws.map((w) => new Promise((res) => w.on('exit', res)))).then((codes) => done(codes));
  `);
  assert.equal(r.status, 0, r.stderr);
  const w = events.filter((e) => e['code.function.name'] === 'm.w');
  assert.equal(w.length, 1000);
  assert.equal(new Set(w.map((e) => e.thread)).size, 2);
});

test('an exit listener registered later still gets its events written', () => {
  const { r, events } = runRaw(`
    Tel.loopIter('m.early', 'm.js', 1);
    process.on('exit', () => Tel.loopIter('m.late', 'm.js', 2));
  `);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(events.map((e) => e['code.function.name']), ['m.early', 'm.late']);
});

test('hard kill: events older than the 200 ms flush interval are in the file', () => {
  const { r, events } = runRaw(`
    for (let i = 0; i < 100; i++) Tel.loopIter('m.f', 'm.js', 1);
    setTimeout(() => { Tel.loopIter('m.f', 'm.js', 2); process.kill(process.pid, 'SIGKILL'); }, 700);
  `);
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(events.filter((e) => e['code.line.number'] === 1).length, 100);
});

test('no system call per event; no descriptor held; user files never get telemetry', () => {
  const { r, result, events } = runRaw(`
    const real = fs.writeSync;
    let writes = 0;
    fs.writeSync = function (...a) { writes++; return real.apply(this, a); };
    const fdCount = () => fs.readdirSync('/proc/self/fd').length;
    const before = fdCount();
    Tel.loopIter('m.f', 'm.js', 1);
    const mine = [0, 1, 2].map((i) => fs.openSync('mine' + i + '.txt', 'w'));
    for (let i = 0; i < 20000; i++) Tel.varAssign('m.f', 'm.js', 2, 'i', i);
    const during = fdCount() - before;
    setTimeout(() => {
      mine.forEach((fd) => fs.closeSync(fd));
      done({ writes, during, bytes: fs.statSync(process.env.TELEMETRY_FILE).size, sizes: [0, 1, 2].map((i) => fs.statSync('mine' + i + '.txt').size) });
    }, 400);
  `);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(events.length, 20001);
  const bytes = result.bytes;
  assert.ok(result.writes <= Math.ceil(bytes / 65536) + 2, `${result.writes} writes for ${bytes} bytes`);
  assert.equal(result.during, 3); // only the user's own three
  assert.deepEqual(result.sizes, [0, 0, 0]);
});

// The order in which the event loop and two threads interleave is what a program can observe; it
// must be the same with telemetry on and off.
const ORDER = `
  const { Worker } = require('worker_threads');
  const log = [];
  function cb(tag) {
    const s = Tel.funcEntry('m.cb', 'm.js', 1, { tag });
    Tel.varAssign('m.cb', 'm.js', 2, 'tag', tag);
    log.push(tag);
    return Tel.funcExit(s, tag);
  }
  const shared = new Int32Array(new SharedArrayBuffer(8));
  // The worker and the main thread take turns through Atomics: each records what it saw.
  const w = new Worker(
    "const { workerData } = require('worker_threads');" +
    "const Tel = require(process.env.TF_RUNTIME);" +
    "const a = workerData; const seen = [];" +
    "for (let i = 1; i <= 40; i += 2) {" +
    "  Atomics.wait(a, 0, i - 1);" +
    "  const s = Tel.funcEntry('m.w', 'w.js', 1, { i }); seen.push(Atomics.load(a, 0)); Tel.funcExit(s);" +
    "  Atomics.store(a, 0, i + 1); Atomics.notify(a, 0);" +
    "}" +
    "require('worker_threads').parentPort.postMessage(seen);",
    { eval: true, workerData: shared });
  const turns = [];
  for (let i = 0; i < 40; i += 2) {
    Atomics.store(shared, 0, i + 1); Atomics.notify(shared, 0);
    Atomics.wait(shared, 0, i + 1);
    turns.push(cb('turn' + Atomics.load(shared, 0)));
  }
  // Only orders node guarantees (a timer of 0 against an immediate is a race in node itself).
  setImmediate(() => {
    cb('immediate');
    fs.stat('.', () => {
      cb('io');
      setTimeout(() => cb('io-timeout'), 0);
      setImmediate(() => cb('io-immediate'));
    });
  });
  Promise.resolve().then(() => cb('microtask'));
  process.nextTick(() => cb('tick'));
  cb('sync');
  let workerSeen = null; // arrives in parallel with the event loop: kept apart from its order
  w.on('message', (seen) => { workerSeen = seen; });
  let ended = 0;
  const end = () => { if (++ended === 2) done({ log, workerSeen }); };
  w.on('exit', end);
  setTimeout(end, 300);
`;

test('event-loop and thread interleaving are the same with telemetry on and off', () => {
  const off = runRaw(ORDER, { env: { TELEMETRY_FILE: undefined } });
  const on = runRaw(ORDER);
  assert.equal(off.r.status, 0, off.r.stderr);
  assert.equal(on.r.status, 0, on.r.stderr);
  assert.equal(off.events.length, 0);
  assert.ok(on.events.length > 100);
  assert.deepEqual(on.result, off.result);
  assert.deepEqual(on.result.log.slice(20), ['sync', 'tick', 'microtask', 'immediate', 'io', 'io-immediate', 'io-timeout']);
  assert.equal(on.result.workerSeen.length, 20);
});

test('a relative TELEMETRY_FILE keeps naming the same file after process.chdir', () => {
  const dir = tmpDir('tf-js-');
  fs.mkdirSync(path.join(dir, 'elsewhere'));
  const { r } = runRaw(
    `
    Tel.loopIter('m.f', 'm.js', 1);
    process.chdir('elsewhere');
    for (let i = 0; i < 10; i++) Tel.loopIter('m.f', 'm.js', 1);
    `,
    { dir, env: { TELEMETRY_FILE: 'events.jsonl' } }
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readEvents(path.join(dir, 'events.jsonl')).events.length, 11);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'elsewhere')), []);
});
