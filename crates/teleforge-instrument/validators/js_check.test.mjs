// Tests for js_check.mjs: run it as a subprocess on temp trees.
//
//   node --test js_check.test.mjs        (from this directory)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCRIPT = path.join(HERE, 'js_check.mjs');
const SCRIPT_TEXT = fs.readFileSync(SCRIPT, 'utf8');
const FLAGS = ['--experimental-vm-modules', '--expose-internals', '--no-warnings'];

function tmpTree(files) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'jscheck-'));
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  return root;
}

function run(root, files, { flags = FLAGS, viaEval = true, request } = {}) {
  const req = request ?? { root, files: files.map(([p, kind]) => ({ path: p, kind })) };
  const args = viaEval ? [...flags, '--input-type=module', '-e', SCRIPT_TEXT] : [...flags, SCRIPT];
  const p = spawnSync(process.execPath, args, { input: JSON.stringify(req), encoding: 'utf8', cwd: root ?? os.tmpdir() });
  const lines = p.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  return {
    status: p.status,
    stderr: p.stderr,
    diags: lines.filter((l) => !l.summary),
    summary: lines.find((l) => l.summary)?.summary,
  };
}

// Check files (object rel -> [kind, content]); assert a clean run; return diagnostics.
function check(files, opts) {
  const root = tmpTree(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v[1]])));
  try {
    const r = run(root, Object.entries(files).map(([k, v]) => [k, v[0]]), opts);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.summary.files, Object.keys(files).length);
    return { ...r, root };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

const brief = (d) => [d.file, d.line, d.column, d.message, d.source];

// Where does node itself put the error? (one process per file: test only)
function nodeCheckLocation(abs) {
  const p = spawnSync(process.execPath, ['--check', abs], { encoding: 'utf8' });
  const m = /^(.*):(\d+)\n([^\n]*)\n([^\n]*)/m.exec(p.stderr);
  return { line: Number(m[2]), column: m[4].indexOf('^') + 1, stderr: p.stderr };
}

test('CommonJS good and bad, line 1 and later lines', () => {
  const { diags, summary } = check({
    'good.js': ['cjs', '"use strict";\nconst fs = require("fs");\nmodule.exports = { f() { return fs; } };\nreturn;\n'],
    'bad1.js': ['cjs', 'foo(}\n'],
    'bad2.js': ['cjs', 'const a = 1;\nfunction f() {\n  return a +;\n}\n'],
    'eof.js': ['cjs', 'function f() {\n  return 1;\n'],
  });
  assert.deepEqual(diags.map(brief), [
    ['bad1.js', 1, 5, "SyntaxError: Unexpected token '}'", 'parse'],
    ['bad2.js', 3, 13, "SyntaxError: Unexpected token ';'", 'parse'],
    ['eof.js', 3, 1, 'SyntaxError: Unexpected end of input', 'parse'],
  ]);
  assert.deepEqual(summary.checks, ['parse']);
});

test('locations agree with node --check', () => {
  const files = {
    'a.cjs': 'foo(}\n',
    'b.cjs': '\n\n  let x = 1;\n  let x = 2;\n',
    'c.cjs': '#!/usr/bin/env node\n\tconst é = "é"; foo(é,,);\n',
    'd.mjs': 'import fs from "node:fs";\nexport const a = 1;\nexport const a = 2;\n',
    'e.mjs': 'const s = `x${1}`;\n  if (s) { await 1; } else }\n',
  };
  const root = tmpTree(files);
  try {
    const kinds = Object.keys(files).map((f) => [f, f.endsWith('.mjs') ? 'esm' : 'cjs']);
    const r = run(root, kinds);
    assert.equal(r.diags.length, Object.keys(files).length);
    for (const d of r.diags) {
      const want = nodeCheckLocation(path.join(root, d.file));
      assert.deepEqual([d.line, d.column], [want.line, want.column], `${d.file}: ${want.stderr}`);
      assert.ok(want.stderr.includes(d.message), `${d.file}: ${d.message} vs ${want.stderr}`);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('ES module good and bad', () => {
  const { diags, summary } = check({
    'good.mjs': ['esm', 'import fs from "node:fs";\nexport const x = await Promise.resolve(fs);\nexport default function f() { return import.meta.url; }\n'],
    'bad1.mjs': ['esm', 'export default {\n'],
    'bad2.mjs': ['esm', 'let a = 1;\n  foo(}\n'],
    'strict.mjs': ['esm', 'const o = {};\nwith (o) {}\n'],
    'ret.mjs': ['esm', 'return 1;\n'],
  });
  assert.deepEqual(diags.map(brief), [
    ['bad1.mjs', 2, 1, 'SyntaxError: Unexpected end of input', 'parse'],
    ['bad2.mjs', 2, 7, "SyntaxError: Unexpected token '}'", 'parse'],
    ['strict.mjs', 2, 1, 'SyntaxError: Strict mode code may not include a with statement', 'parse'],
    ['ret.mjs', 1, 1, 'SyntaxError: Illegal return statement', 'parse'],
  ]);
  assert.deepEqual(summary.checks, ['parse', 'link']);
});

test('hashbang lines are accepted like node does', () => {
  const { diags } = check({
    'a.js': ['cjs', '#!/usr/bin/env node\nconsole.log(1);\n'],
    'b.mjs': ['esm', '#!/usr/bin/env node\nconsole.log(1);\n'],
    'c.js': ['cjs', '#!/usr/bin/env node\nfoo(}\n'],
    'd.mjs': ['esm', '#!/usr/bin/env node\nfoo(}\n'],
  });
  assert.deepEqual(diags.map(brief), [
    ['c.js', 2, 5, "SyntaxError: Unexpected token '}'", 'parse'],
    ['d.mjs', 2, 5, "SyntaxError: Unexpected token '}'", 'parse'],
  ]);
});

test('columns count UTF-16 units, tabs as one; lines count \\n only', () => {
  const { diags } = check({
    'tab.js': ['cjs', '\t\tfoo(}\n'],
    'uni.js': ['cjs', 'const s = "é😀"; foo(}\n'],
    'crlf.js': ['cjs', 'a();\r\nb();\r\nfoo(}\r\n'],
    'cr.js': ['cjs', 'a();\rb();\nfoo(}\n'],
    'ls.mjs': ['esm', 'const s = "a\u2028b";\nfoo(}\n'],
    'bom.js': ['cjs', '\uFEFFfoo(}\n'],
    'long.js': ['cjs', `${'x;'.repeat(700)} foo(}\n`],
  });
  assert.deepEqual(diags.map((d) => [d.file, d.line, d.column]), [
    ['tab.js', 1, 7],
    ['uni.js', 1, 22], // the emoji is two UTF-16 units
    ['crlf.js', 3, 5],
    ['cr.js', 2, 5],
    ['ls.mjs', 2, 5],
    ['bom.js', 1, 5],
    ['long.js', 1, null], // node's caret line stops at 1020 columns
  ]);
});

test('ES module syntax in CommonJS gives node\'s own message', () => {
  const { diags } = check({
    'a.js': ['cjs', '"use strict";\nimport fs from "fs";\n'],
    'b.js': ['cjs', 'export const a = 1;\n'],
    'c.js': ['cjs', 'const u = import.meta.url;\n'],
  });
  assert.deepEqual(diags.map(brief), [
    ['a.js', 2, 1, 'SyntaxError: Cannot use import statement outside a module', 'parse'],
    ['b.js', 1, 1, "SyntaxError: Unexpected token 'export'", 'parse'],
    ['c.js', 1, 18, "SyntaxError: Cannot use 'import.meta' outside a module", 'parse'], // V8 points at meta
  ]);
});

test('CommonJS names in an ES module are link diagnostics', () => {
  const { diags } = check({
    'a.mjs': ['esm', [
      'import path from "node:path";',
      'const tel = require("teleforge");',
      'export function f() { return __dirname + path.sep + __filename; }',
      'module.exports = { f };',
      'exports.g = 1;',
      'const t = `${require("x")}`;',
    ].join('\n')],
  });
  const R = 'ReferenceError: require is not defined in ES module scope, you can use import instead';
  assert.deepEqual(diags.map(brief), [
    ['a.mjs', 2, 13, R, 'link'],
    ['a.mjs', 3, 30, 'ReferenceError: __dirname is not defined in ES module scope', 'link'],
    ['a.mjs', 3, 53, 'ReferenceError: __filename is not defined in ES module scope', 'link'],
    ['a.mjs', 4, 1, 'ReferenceError: module is not defined in ES module scope', 'link'],
    ['a.mjs', 5, 1, 'ReferenceError: exports is not defined in ES module scope', 'link'],
    ['a.mjs', 6, 14, R, 'link'],
  ]);
});

test('declared, guarded, member and key uses are not reported', () => {
  const { diags } = check({
    'create.mjs': ['esm', 'import { createRequire } from "node:module";\nconst require = createRequire(import.meta.url);\nexport const fs = require("fs");\n'],
    'import.mjs': ['esm', 'import module from "node:module";\nexport const m = module.builtinModules;\n'],
    'alias.mjs': ['esm', 'import { default as exports } from "node:fs";\nexport { exports as module };\nexport { exports };\n'],
    'dirname.mjs': ['esm', 'import { fileURLToPath } from "node:url";\nimport { dirname } from "node:path";\nconst __filename = fileURLToPath(import.meta.url), __dirname = dirname(__filename);\nexport { __dirname, __filename };\n'],
    'multi.mjs': ['esm', 'const a = f()\n  .g(), require = 1,\n  module = 2;\nexport { a, require, module };\n'],
    'destr.mjs': ['esm', 'const { module, exports: [exports] } = { module: 1, exports: [2] };\nexport default module + exports;\n'],
    'params.mjs': ['esm', 'export function f(require) { return require("x"); }\nexport const g = (module) => module.id;\nexport const h = exports => exports.a;\ntry {} catch (__dirname) { __dirname.x; }\n'],
    'guard.mjs': ['esm', 'export const isNode = typeof module !== "undefined" && module.exports;\nexport const r = typeof require === "function" ? require : null;\n'],
    'members.mjs': ['esm', [
      'const o = { require: 1, module() { return 2; }, exports: 3 };',
      'export const a = o.require + o?.module() + o.exports;',
      'class A {',
      '  module = 1;',
      '  static exports = 2;',
      '  require() { return this.module; }',
      '  get __dirname() { return 1; }',
      '}',
      'export { A };',
      '// require("x") in a comment; module.exports = 1',
      '/* exports.a = require("b") */',
      'export const s = "require(\'x\')" + \'module.exports\' + `__dirname ${"exports"}`;',
      'export const re = /require\\(module\\)/g.test("x") / 2;',
    ].join('\n')],
  });
  assert.deepEqual(diags.map(brief), []);
});

test('class field initializer and shorthand uses are reported', () => {
  const { diags } = check({
    'a.mjs': ['esm', 'class A {\n  x = require("y");\n  y =\n    exports;\n}\nexport default { A, module };\n'],
    'b.mjs': ['esm', 'const a = 1\nrequire("x");\nlet b = f(\n  1), c = 2\n__dirname;\nvar d =\n  module;\n'],
  });
  assert.deepEqual(diags.map((d) => [d.file, d.line, d.column, d.message.split(' ')[1]]), [
    ['a.mjs', 2, 7, 'require'],
    ['a.mjs', 4, 5, 'exports'],
    ['a.mjs', 6, 21, 'module'],
    ['b.mjs', 2, 1, 'require'],
    ['b.mjs', 5, 1, '__dirname'],
    ['b.mjs', 7, 3, 'module'],
  ]);
});

test('relative imports must resolve to a file', () => {
  const files = {
    'src/main.mjs': ['esm', [
      'import a from "./lib/a.js";',
      'import { b } from "../top.mjs";',
      'import c from "./lib/missing.js";',
      'import d from "./lib/a";',
      'import e from "./lib";',
      'export * from "./gone.mjs";',
      'import f from "node:fs";',
      'import g from "some-package";',
      'const h = await import("./dynamic-not-checked.js");',
      'import i from "../top";',
    ].join('\n')],
    'src/lib/a.js': ['esm', 'export default 1;\n'],
    'src/lib/index.js': ['esm', 'export default 1;\n'],
    'top.mjs': ['esm', 'export const b = 1;\n'],
  };
  const root = tmpTree(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v[1]])));
  try {
    const r = run(root, [['src/main.mjs', 'esm']]);
    assert.equal(r.status, 0, r.stderr);
    const main = path.join(root, 'src/main.mjs');
    assert.deepEqual(r.diags.map(brief), [
      ['src/main.mjs', 3, 15, `Error [ERR_MODULE_NOT_FOUND]: Cannot find module '${path.join(root, 'src/lib/missing.js')}' imported from ${main}`, 'link'],
      ['src/main.mjs', 4, 15, `Error [ERR_MODULE_NOT_FOUND]: Cannot find module '${path.join(root, 'src/lib/a')}' imported from ${main}`, 'link'],
      ['src/main.mjs', 5, 15, `Error [ERR_UNSUPPORTED_DIR_IMPORT]: Directory import '${path.join(root, 'src/lib')}' is not supported resolving ES modules imported from ${main}`, 'link'],
      ['src/main.mjs', 6, 15, `Error [ERR_MODULE_NOT_FOUND]: Cannot find module '${path.join(root, 'src/gone.mjs')}' imported from ${main}`, 'link'],
      ['src/main.mjs', 10, 15, `Error [ERR_MODULE_NOT_FOUND]: Cannot find module '${path.join(root, 'top')}' imported from ${main}`, 'link'],
    ]);
    // Each message is the first line of what node itself says when it loads such an import
    // (node may append a "Did you mean" hint that depends on its cwd: see js_check.mjs).
    for (const d of r.diags) {
      const line = files['src/main.mjs'][1].split('\n')[d.line - 1];
      const probe = path.join(root, 'src', 'probe.mjs');
      fs.writeFileSync(probe, line.replace(/^import (\S+) from|^export \* from/, 'import'));
      const p = spawnSync(process.execPath, [probe], { encoding: 'utf8', cwd: root });
      const want = d.message.replaceAll(main, probe);
      assert.ok(p.stderr.split('\n').includes(want), `node says:\n${p.stderr}\nwe say:\n${want}`);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('no stderr noise without --no-warnings; ESM location fallback without --expose-internals', () => {
  const files = {
    'a.mjs': ['esm', 'let a = 1;\n  foo(}\n'],
    'b.mjs': ['esm', 'export const a = 1;\nexport const a = 2;\n'],
  };
  const r1 = check(files, { flags: ['--experimental-vm-modules', '--expose-internals'] });
  assert.deepEqual(r1.diags.map((d) => [d.file, d.line, d.column]), [['a.mjs', 2, 7], ['b.mjs', 2, 14]]);
  const r2 = check(files, { flags: ['--experimental-vm-modules'] });
  assert.deepEqual(r2.diags.map((d) => [d.file, d.line, d.column, d.message]), [
    ['a.mjs', 2, 7, "SyntaxError: Unexpected token '}'"],
    ['b.mjs', 1, null, "SyntaxError: Identifier 'a' has already been declared"], // module-only error
  ]);
  const r3 = check(files, { viaEval: false });
  assert.deepEqual(r3.diags, r1.diags);
});

test('bad requests exit 2 with one stderr line', () => {
  const root = tmpTree({ 'a.mjs': 'export {};\n' });
  try {
    for (const request of [{ root: 1 }, { root, files: [{ path: 'a.mjs', kind: 'ts' }] }, { root, files: [{ path: 'nope.js', kind: 'cjs' }] }]) {
      const r = run(root, null, { request });
      assert.equal(r.status, 2);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(r.diags.length, 0);
    }
    const r = run(root, [['a.mjs', 'esm']], { flags: ['--no-warnings'] });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--experimental-vm-modules/);
    const ok = run(root, [], {});
    assert.equal(ok.status, 0);
    assert.equal(ok.summary.files, 0);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('1000 files in one run', () => {
  const files = {};
  const body = (i) => [
    'import { readFileSync } from "node:fs";',
    `import helper from "./helper${i % 10}.mjs";`,
    ...Array.from({ length: 30 }, (_, j) => `export function f${j}(a, b = ${j}) {\n  const s = \`\${a}/\${b}\`;\n  if (/x+/.test(s)) { return helper(s) / 2; }\n  return readFileSync(s, "utf8").split("\\n").map((l) => l.trim());\n}`),
  ].join('\n');
  for (let i = 0; i < 10; i++) files[`pkg/helper${i}.mjs`] = ['esm', 'export default (x) => x;\n'];
  for (let i = 0; i < 990; i++) {
    let src = body(i);
    if (i % 100 === 7) src += '\nfoo(}';
    if (i % 100 === 9) src += '\nconst t = require("teleforge");';
    files[`pkg/m${i}.${i % 2 ? 'mjs' : 'js'}`] = [i % 2 ? 'esm' : 'cjs', i % 2 ? src : src.replace(/^import .*$/gm, '').replace(/export /g, '')];
  }
  const size = Object.values(files).reduce((n, [, s]) => n + s.length, 0);
  const t = process.hrtime.bigint();
  const { diags, summary } = check(files);
  const wall = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`1000 files (${(size / 1024).toFixed(1)} KB): wall ${wall.toFixed(3)} s (incl. node start-up), checker-reported ${summary.seconds} s`);
  assert.equal(diags.filter((d) => d.source === 'parse').length, 10);
  assert.equal(diags.filter((d) => d.source === 'link').length, 10);
});
