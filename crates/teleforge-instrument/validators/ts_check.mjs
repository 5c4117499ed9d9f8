// teleforge TypeScript batch validator: one node process type-checks a whole tree with the
// project's own TypeScript compiler API and its own tsconfig.json files.
//
//   node ts_check.mjs < request.json
//
// Request (stdin):
//   {"root": "/abs/tree", "typescript": "/abs/node_modules/typescript/lib/typescript.js",
//    "files": ["src/a.ts", ...], "overlay": {"src/a.ts": "new text", "_teleforge_tel.d.cts": "..."}}
// `files` are the TypeScript/JSX files of the tree (relative to root); `overlay` replaces (or adds)
// file contents in memory: the tree on disk is never read for an overlaid path nor written.
//
// Each file is checked by the nearest tsconfig.json at or above its folder (or, when that one
// does not include it, the first project it references that does): one program per tsconfig
// (its own options, files, paths and references), checked with noEmit. A tree without
// any tsconfig.json is checked as one program with defaults (allowJs, jsx preserve, ES modules,
// bundler resolution, skipLibCheck, not strict). Files no program includes (excluded by their
// tsconfig, or .jsx without allowJs) get a syntax check only (transpileModule's diagnostics).
//
// Answer (stdout): JSON Lines, one diagnostic per line
//   {"file": rel or "", "line": 1-based, "column": 1-based UTF-16 units or null, "code": 2304,
//    "message": "error TS2304: Cannot find name 'x'.", "source": "program"|"syntax"|"config"}
// then {"summary": {"programs": N, "compiled": [rel...], "syntax_only": [rel...], "seconds": F}}.
// Only errors are reported, and only in files under root outside node_modules (plus diagnostics
// that name no file: options, tsconfig). Exit 0 when the check ran; 2 with one stderr line when
// the request or the compiler cannot be loaded.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const t0 = process.hrtime.bigint();

function fail(msg) {
  process.stderr.write(`ts_check: ${msg}\n`);
  process.exit(2);
}

let req;
try {
  req = JSON.parse(fs.readFileSync(0, 'utf8'));
} catch (e) {
  fail(`bad request: ${e.message}`);
}
let ts;
try {
  ts = createRequire(import.meta.url)(req.typescript);
} catch (e) {
  fail(`cannot load TypeScript from ${req.typescript}: ${e.message.split('\n')[0]}`);
}

const root = path.resolve(req.root);
const overlay = new Map();
for (const [rel, text] of Object.entries(req.overlay || {})) overlay.set(path.join(root, rel), text);
const norm = (p) => path.resolve(p);

const readFile = (p, enc) => {
  const o = overlay.get(norm(p));
  return o !== undefined ? o : ts.sys.readFile(p, enc);
};
const fileExists = (p) => overlay.has(norm(p)) || ts.sys.fileExists(p);
const parseHost = {
  ...ts.sys,
  readFile,
  fileExists,
  useCaseSensitiveFileNames: ts.sys.useCaseSensitiveFileNames,
  onUnRecoverableConfigFileDiagnostic: (d) => report(d, 'config'),
};

const out = [];
function relOf(fileName) {
  const abs = norm(fileName);
  const rel = path.relative(root, abs);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return null;
  if (rel.split(path.sep).includes('node_modules')) return null;
  return rel.split(path.sep).join('/');
}
const seen = new Set();
function report(d, source) {
  if (d.category !== ts.DiagnosticCategory.Error) return;
  let file = '';
  let line = 0;
  let column = null;
  if (d.file) {
    const rel = relOf(d.file.fileName);
    if (rel === null) return;
    file = rel;
    if (d.start !== undefined) {
      const lc = d.file.getLineAndCharacterOfPosition(d.start);
      line = lc.line + 1;
      column = lc.character + 1;
    }
  }
  const message = `error TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  const key = `${file}\0${line}\0${column}\0${message}`;
  if (seen.has(key)) return;
  seen.add(key);
  out.push(JSON.stringify({ file, line, column, code: d.code, message, source }));
}

// Each file is checked by the nearest tsconfig.json at or above its folder, or, when that config
// does not include it (a "solution" tsconfig.json with only `references`, as Vite's templates
// write), by the first project it references (depth first) that does.
const configOf = new Map();
function nearestConfig(dir) {
  const hit = configOf.get(dir);
  if (hit !== undefined) return hit;
  let found = null;
  const candidate = path.join(dir, 'tsconfig.json');
  if (fileExists(candidate)) found = candidate;
  else {
    const parent = path.dirname(dir);
    if (parent !== dir) found = nearestConfig(parent);
  }
  configOf.set(dir, found);
  return found;
}
const parsedConfigs = new Map();
function parseConfig(cfg) {
  if (parsedConfigs.has(cfg)) return parsedConfigs.get(cfg);
  parsedConfigs.set(cfg, null); // a reference cycle ends here
  const parsed = ts.getParsedCommandLineOfConfigFile(cfg, {}, parseHost);
  let entry = null;
  if (parsed) {
    for (const d of parsed.errors) report(d, 'config');
    entry = { cfg, parsed, names: new Set(parsed.fileNames.map(norm)) };
  }
  parsedConfigs.set(cfg, entry);
  return entry;
}
function configFor(cfg, abs, depth = 0) {
  const entry = parseConfig(cfg);
  if (!entry || depth > 8) return null;
  if (entry.names.has(abs)) return entry;
  for (const ref of entry.parsed.projectReferences || []) {
    const refCfg = ts.resolveProjectReferencePath(ref);
    const hit = configFor(refCfg, abs, depth + 1);
    if (hit) return hit;
  }
  return null;
}
const groups = new Map();
const files = (req.files || []).map((rel) => ({ rel, abs: path.join(root, rel) }));
for (const f of files) {
  const nearest = nearestConfig(path.dirname(f.abs));
  let key = '';
  if (nearest !== null) {
    const entry = configFor(nearest, norm(f.abs));
    if (!entry) continue; // no project includes it: syntax only
    key = entry.cfg;
  }
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push(f);
}

const DEFAULTS = {
  allowJs: true,
  checkJs: false,
  jsx: ts.JsxEmit.Preserve,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler ?? ts.ModuleResolutionKind.NodeJs,
  esModuleInterop: true,
  skipLibCheck: true,
  resolveJsonModule: true,
};

function check(rootNames, options, projectReferences) {
  options = { ...options, noEmit: true, emitDeclarationOnly: false, incremental: false, composite: false };
  delete options.tsBuildInfoFile;
  const host = ts.createCompilerHost(options, true);
  host.readFile = readFile;
  host.fileExists = fileExists;
  const program = ts.createProgram({ rootNames, options, host, projectReferences });
  for (const d of ts.getPreEmitDiagnostics(program)) report(d, 'program');
  const inProgram = new Set();
  for (const sf of program.getSourceFiles()) {
    const rel = relOf(sf.fileName);
    if (rel !== null) inProgram.add(rel);
  }
  return inProgram;
}

let programs = 0;
const compiled = new Set();
for (const [cfg, group] of groups) {
  let inProgram;
  if (cfg === '') {
    inProgram = check(group.map((f) => f.abs), DEFAULTS, undefined);
  } else {
    const { parsed } = parsedConfigs.get(cfg);
    inProgram = check(parsed.fileNames, parsed.options, parsed.projectReferences);
  }
  programs += 1;
  for (const f of group) if (inProgram.has(f.rel)) compiled.add(f.rel);
}

// Files no program includes: syntax only.
const syntaxOnly = [];
for (const f of files) {
  if (compiled.has(f.rel)) continue;
  const text = readFile(f.abs, 'utf8');
  if (text === undefined) continue;
  syntaxOnly.push(f.rel);
  const r = ts.transpileModule(text, {
    fileName: f.abs,
    reportDiagnostics: true,
    compilerOptions: { jsx: ts.JsxEmit.Preserve, allowJs: true, target: ts.ScriptTarget.ESNext },
  });
  for (const d of r.diagnostics || []) report(d, 'syntax');
}

const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
out.push(JSON.stringify({ summary: { programs, compiled: [...compiled].sort(), syntax_only: syntaxOnly, seconds } }));
process.stdout.write(out.join('\n') + '\n');
