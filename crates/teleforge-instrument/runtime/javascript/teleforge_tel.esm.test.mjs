// ES module tests for _teleforge_tel.cjs: it is imported here both ways (default and named), and
// ES module programs that import it run in child processes (fresh configuration, no output).
//   node --test crates/teleforge-instrument/runtime/javascript/

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

import Tel from './_teleforge_tel.cjs';
import * as TelNs from './_teleforge_tel.cjs';
import { funcEntry, funcExit, funcError, loopIter, varAssign } from './_teleforge_tel.cjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RUNTIME = path.join(HERE, '_teleforge_tel.cjs');

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

function childEnv(dir, extra = {}) {
  const e = { ...process.env };
  for (const k of ['TELEMETRY_FILE', 'TELEMETRY_SAMPLE_FIRST', 'NODE_TEST_CONTEXT', 'NODE_OPTIONS']) delete e[k];
  return { ...e, RESULT_FILE: path.join(dir, 'result.json'), TELEMETRY_FILE: path.join(dir, 'events.jsonl'), ...extra };
}

function runNode(args, dir, env) {
  const r = spawnSync(process.execPath, args, { cwd: dir, env, encoding: 'utf8', timeout: 60000 });
  assert.deepEqual(
    { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr },
    { status: 0, signal: null, stdout: '', stderr: '' },
    'child exits cleanly and prints nothing'
  );
  const events = fs.readFileSync(env.TELEMETRY_FILE, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
  const result = JSON.parse(fs.readFileSync(env.RESULT_FILE, 'utf8'));
  return { events, result };
}

function tree(events) {
  const entries = new Map(events.filter((e) => e.kind === 'func_entry').map((e) => [e.span_id, e]));
  const label = (id) => (id === null ? null : `${entries.get(id)['code.function.name']}:${entries.get(id).args.tag}`);
  return events
    .filter((e) => e.kind === 'func_entry' || e.kind === 'var_assign')
    .map((e) => (e.kind === 'func_entry' ? '' : 'var@') + `${label(e.span_id)} <- ${label(e.parent_span_id)}`);
}

const PROGRAM = (importLines) => `${importLines}
import { writeFileSync } from 'node:fs';
const delay = (ms) => new Promise((r) => setTimeout(r, ms));
async function inner(tag, ms) {
  const s = funcEntry('inner', 'main.mjs', 5, { tag });
  try {
    await delay(ms);
    leaf(tag);
    return funcExit(s, tag);
  } catch (e) {
    throw funcError(s, e);
  }
}
function leaf(tag) {
  const s = Tel.funcEntry('leaf', 'main.mjs', 6, { tag });
  Tel.varAssign('leaf', 'main.mjs', 7, 'tag', tag);
  return Tel.funcExit(s, tag);
}
async function outer() {
  const s = Tel.funcEntry('outer', 'main.mjs', 8, { tag: 'O' });
  await Promise.all([inner('a', 40), inner('b', 1)]);
  leaf('o');
  return Tel.funcExit(s, 1);
}
await outer();                 // top-level await
leaf('top');
const p = inner('u', 1);
leaf('top2');                  // runs while inner:u is suspended
await p;
await inner('t', 0);
leaf('top3');
const strict = (function () { return this === undefined; })();
writeFileSync(process.env.RESULT_FILE, JSON.stringify({ strict, sameDefault: Tel.funcEntry === funcEntry }));
`;

const EXPECTED_TREE = [
  'outer:O <- null',
  'inner:a <- outer:O',
  'inner:b <- outer:O',
  'leaf:b <- inner:b',
  'var@leaf:b <- inner:b',
  'leaf:a <- inner:a',
  'var@leaf:a <- inner:a',
  'leaf:o <- outer:O',
  'var@leaf:o <- outer:O',
  'leaf:top <- null',
  'var@leaf:top <- null',
  'inner:u <- null',
  'leaf:top2 <- null',
  'var@leaf:top2 <- null',
  'leaf:u <- inner:u',
  'var@leaf:u <- inner:u',
  'inner:t <- null',
  'leaf:t <- inner:t',
  'var@leaf:t <- inner:t',
  'leaf:top3 <- null',
  'var@leaf:top3 <- null',
];

test('imported both ways in this ES module: default, named and namespace agree', () => {
  for (const [k, f] of Object.entries({ funcEntry, funcExit, funcError, loopIter, varAssign })) {
    assert.equal(typeof f, 'function', k);
    assert.equal(Tel[k], f, k);
    assert.equal(TelNs[k], f, k);
  }
  assert.equal(TelNs.default, Tel);
  assert.deepEqual(Object.keys(Tel).sort(), ['funcEntry', 'funcError', 'funcExit', 'loopIter', 'varAssign']);
});

test('an .mjs program importing the runtime (default + named) records correct parents under top-level await', () => {
  const dir = tmpDir('tf-esm-');
  fs.copyFileSync(RUNTIME, path.join(dir, '_teleforge_tel.cjs'));
  fs.writeFileSync(
    path.join(dir, 'main.mjs'),
    PROGRAM("import Tel from './_teleforge_tel.cjs';\nimport { funcEntry, funcExit, funcError } from './_teleforge_tel.cjs';")
  );
  const env = childEnv(dir);
  const { events, result } = runNode(['main.mjs'], dir, env);
  assert.deepEqual(result, { strict: true, sameDefault: true });
  assert.deepEqual(tree(events), EXPECTED_TREE);
  for (const e of events) assert.equal(e.thread, 'main');
  assert.equal(events.filter((e) => e.kind === 'func_exit').length, events.filter((e) => e.kind === 'func_entry').length);
});

test("a .js file in a \"type\": \"module\" package imports the runtime (the .cjs stays CommonJS)", () => {
  const dir = tmpDir('tf-esm-');
  fs.copyFileSync(RUNTIME, path.join(dir, '_teleforge_tel.cjs'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  fs.writeFileSync(
    path.join(dir, 'main.js'),
    PROGRAM("import Tel from './_teleforge_tel.cjs';\nconst { funcEntry, funcExit, funcError } = Tel;")
  );
  const env = childEnv(dir);
  const { events, result } = runNode(['main.js'], dir, env);
  assert.deepEqual(result, { strict: true, sameDefault: true });
  assert.deepEqual(tree(events), EXPECTED_TREE);
});

test('--input-type=module with an absolute file URL import; disabled run writes nothing', () => {
  const dir = tmpDir('tf-esm-');
  const url = JSON.stringify(pathToFileURL(RUNTIME).href);
  const src = PROGRAM(`import Tel from ${url};\nimport { funcEntry, funcExit, funcError } from ${url};`);
  const env = childEnv(dir);
  const { events } = runNode(['--input-type=module', '-e', src], dir, env);
  assert.deepEqual(tree(events), EXPECTED_TREE);

  const off = tmpDir('tf-esm-');
  const offEnv = childEnv(off);
  delete offEnv.TELEMETRY_FILE;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', src], { cwd: off, env: offEnv, encoding: 'utf8' });
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
  assert.deepEqual(fs.readdirSync(off), ['result.json']);
});
