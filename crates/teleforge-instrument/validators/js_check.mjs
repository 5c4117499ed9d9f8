// teleforge JavaScript batch validator: one node process checks a whole batch of files.
//
// Run (script embedded with include_str!, passed with -e; request JSON on stdin):
//
//   node --experimental-vm-modules --expose-internals --no-warnings --input-type=module -e <this file>
//
// or, from a temp file, the same flags without --input-type=module:
//
//   node --experimental-vm-modules --expose-internals --no-warnings /tmp/js_check.mjs
//
// Flags:
// * --experimental-vm-modules: needed for vm.SourceTextModule (ES module parse). Without it, ESM
//   files cannot be checked and the script exits 2 (CommonJS-only batches still work).
// * --expose-internals: lets us read node's private "arrow message" of a SourceTextModule syntax
//   error (`file:LINE\nsource line\n    ^^^`), the only place node keeps the location of an ESM
//   parse error (err.stack has none). Without it, ESM parse errors still get the right message,
//   but the location is only a best-effort guess (see locateFallback): right when a plain script
//   fails the same way, else line 1 / column null (e.g. a duplicate export).
// * --no-warnings: belt and braces; the script also removes node's 'warning' listeners before it
//   touches anything experimental/internal, so ExperimentalWarning ("VM Modules is an
//   experimental feature") and the internal-binding warning never reach stderr even without it.
//
// Request (stdin): {"root": "/abs/dir", "files": [{"path": "rel/x.js", "kind": "esm"|"cjs"}]}
//   A file may carry its "text" (checked instead of what is on disk, which is not read); "added"
//   (optional) lists relative paths that count as existing files for the import check (files
//   the caller adds to the tree without writing them).
// Answer (stdout): JSON Lines, one diagnostic per line
//   {"file", "line" (1-based), "column" (1-based, UTF-16 code units, or null), "message", "source"}
// then {"summary": {"files": N, "seconds": F, "checks": ["parse", "link"]}} ("link" only when the
// batch has ESM files).
// The script is ~26 KB, well under Linux's 128 KB limit for one argv string, so -e is safe.
// Lines count "\n" only (like tree-sitter and editors); V8's own line numbers (which also break
// at a lone "\r", U+2028 and U+2029) are converted.
// Exit 0 when the check ran (diagnostics or not); 2 with one stderr line on a bad request, an
// unreadable file, or missing --experimental-vm-modules when the batch has ESM files.
//
// Checks:
// * parse (cjs): vm.compileFunction(body, [exports, require, module, __filename, __dirname]),
//   which is what node 20's CommonJS loader does (wrapSafe), so there is no wrapper text to shift
//   columns on line 1, and a "#!" first line is accepted exactly as node accepts it. ES module
//   syntax gives node's own "SyntaxError: Cannot use import statement outside a module".
//   (node >= 22.12 would instead *re-run* such a file as ESM when no package.json "type" is set
//   ("module syntax detection"); the caller decides kind, we obey it.)
// * parse (esm): new vm.SourceTextModule(src, {identifier}): parse only, never linked/evaluated.
// * link (esm): free uses of require/module/exports/__filename/__dirname, which parse but throw
//   at run time with node's messages; static relative/absolute/file: import specifiers
//   (SourceTextModule.dependencySpecifiers: static imports and re-exports, not import()) that do
//   not resolve to an existing file (ERR_MODULE_NOT_FOUND) or resolve to a directory
//   (ERR_UNSUPPORTED_DIR_IMPORT). The message is node's first line only: node 20 sometimes adds
//   "\nDid you mean to import "./x.js"?", but it resolves that hint against process.cwd() instead
//   of the importer's directory (a node bug), so it depends on where node was started; left out.
//   Bare specifiers (packages), "#imports", import attributes and file extensions node cannot load
//   are not checked.
//
// Free-identifier check (cheap, no AST: node exposes none): a small scanner tokenizes the module
// (skipping comments, strings, template text, regex literals) and reports an identifier token named
// require/module/exports/__filename/__dirname unless it is a property (`x.require`), an object or
// class member key, a method/function name, an export/import alias after `as`, or the name is
// declared ANYWHERE in the file (var/let/const incl. destructuring, function/class, import, any
// function/arrow/method/catch parameter). Every remaining use is one diagnostic. Limits:
// * no scopes: a declaration anywhere (even a parameter of one inner function) hides every use of
//   that name in the file (false negatives, never false positives from shadowing);
// * `typeof NAME` anywhere in the file is taken as a guard and hides all uses of NAME (isomorphic
//   `typeof module !== "undefined" && module.exports` code does not throw);
// * identifiers written with \u escapes, names built by eval/new Function are not seen;
// * regex-versus-division after `)` or `}` is decided by a heuristic (`)` = division, `}` = regex);
//   a wrong guess usually misreads only the rest of that line (more if the misread regex holds
//   a backtick or "/*"). On 7.5 MB of real npm code (1152 files) every bracket balanced;
// * destructuring defaults inside declarations count as declarations (`const {a = require} = o`).

import vm from 'node:vm';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL, fileURLToPath } from 'node:url';

// Static imports above are hoisted anyway; nothing before this line emits a warning.
process.removeAllListeners('warning');

// The caller does not start node just to ask its version: an old node is refused here.
if (Number(process.versions.node.split('.')[0]) < 18) {
  process.stderr.write(`Node.js 18 or newer is needed, this node is ${process.version}\n`);
  process.exit(2);
}

const t0 = process.hrtime.bigint();
const CJS_PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'];

class BadRequest extends Error {}

// ---------------------------------------------------------------------------------------------
// Locations

let arrowSym = null;
try {
  const req = createRequire(path.join(process.cwd(), '__teleforge__.js'));
  const { internalBinding } = req('internal/test/binding');
  arrowSym = internalBinding('util').privateSymbols.arrow_message_private_symbol || null;
} catch {
  arrowSym = null;
}

// V8 line starts (line terminators: \r\n, \n, \r, U+2028, U+2029) as offsets.
function v8LineStarts(src) {
  const starts = [0];
  for (let i = 0; i < src.length; i++) {
    const c = src.charCodeAt(i);
    if (c === 10 || c === 0x2028 || c === 0x2029) starts.push(i + 1);
    else if (c === 13) {
      if (src.charCodeAt(i + 1) === 10) i++;
      starts.push(i + 1);
    }
  }
  return starts;
}

// "\n"-only line starts.
function nlLineStarts(src) {
  const starts = [0];
  let i = -1;
  while ((i = src.indexOf('\n', i + 1)) !== -1) starts.push(i + 1);
  return starts;
}

function lineColOf(starts, offset) {
  let lo = 0, hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid; else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - starts[lo] + 1 };
}

// Parse node's arrow text "file:LINE\n<source line>\n<underline>\n" (the decorated stack of a
// vm.compileFunction error starts with it too). Returns {line, col0|null} in V8 terms, or null.
function parseArrow(text) {
  if (typeof text !== 'string') return null;
  const m = /^[^\n]*:(\d+)\n([^\n]*)\n([^\n]*)/.exec(text);
  if (!m) return null;
  const line = Number(m[1]);
  const under = m[3];
  const caret = under.indexOf('^');
  let col0 = null;
  // node pads the underline with one char per UTF-16 unit of the start column, capped at 1020.
  if (caret >= 0) col0 = caret;
  else if (/^[ \t]*$/.test(under) && under.length < 1019) col0 = under.length;
  return { line, col0 };
}

function arrowOf(err) {
  if (arrowSym) {
    try {
      const a = err[arrowSym];
      if (typeof a === 'string' && a) return a;
    } catch { /* ignore */ }
  }
  const st = typeof err.stack === 'string' ? err.stack : '';
  if (!st.startsWith(`${err.name}:`)) return st; // decorated: starts with "file:LINE"
  return null;
}

// Convert a V8 (line, col0) to a "\n"-based {line, column}.
function toNl(src, v8, nlStarts) {
  const vStarts = v8LineStarts(src);
  const li = Math.min(Math.max(v8.line, 1), vStarts.length) - 1;
  const lineStart = vStarts[li];
  if (v8.col0 === null) {
    return { line: lineColOf(nlStarts, lineStart).line, column: null };
  }
  const off = Math.min(lineStart + v8.col0, src.length);
  return lineColOf(nlStarts, off);
}

// Best effort for an ESM parse error without the arrow: a plain Script often fails at the same
// place with the same message (not for module-only errors).
function locateFallback(src, message) {
  try {
    new vm.Script(src, { filename: '__teleforge_fallback__' });
  } catch (e) {
    if (e && e.message === message) return parseArrow(arrowOf(e));
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Tokenizer (enough JS lexing to find identifiers safely)

const KW_BEFORE_EXPR = new Set([
  'return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do',
  'else', 'yield', 'await', 'extends',
]);
const PUNCTS = [
  '>>>=', '...', '===', '!==', '**=', '<<=', '>>=', '>>>', '&&=', '||=', '??=', '=>', '==', '!=',
  '<=', '>=', '&&', '||', '??', '?.', '++', '--', '+=', '-=', '*=', '%=', '&=', '|=', '^=', '**',
  '<<', '>>',
];

const PUNCTS_BY_FIRST = new Map();
for (const q of PUNCTS) { // longest first, as listed
  if (!PUNCTS_BY_FIRST.has(q[0])) PUNCTS_BY_FIRST.set(q[0], []);
  PUNCTS_BY_FIRST.get(q[0]).push(q);
}

function isIdStart(c) {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36 || c === 92 || c >= 0x80;
}
function isIdPart(c) {
  return isIdStart(c) || (c >= 48 && c <= 57);
}

// Token: {k: 'id'|'p'|'str'|'num'|'re'|'tmpl'|'priv', v, s (offset), nl (line break before)}
function tokenize(src) {
  const toks = [];
  const n = src.length;
  let i = 0;
  let nl = false;
  let curly = 0; // depth of { and ${
  const tmplStack = []; // curly depth at which a ${ ... } closes back into template text

  const push = (k, v, s) => { toks.push({ k, v, s, nl }); nl = false; };

  const regexAllowed = () => {
    const p = toks[toks.length - 1];
    if (!p) return true;
    if (p.k === 'id') return KW_BEFORE_EXPR.has(p.v);
    if (p.k !== 'p') return false;
    return !(p.v === ')' || p.v === ']' || p.v === '++' || p.v === '--');
  };

  // Scan template text starting at i (just after ` or the } closing a ${); returns new i.
  const scanTemplate = (start) => {
    let j = i;
    while (j < n) {
      const c = src.charCodeAt(j);
      if (c === 92) { j += 2; continue; }
      if (c === 96) { push('tmpl', '`', start); return j + 1; }
      if (c === 36 && src.charCodeAt(j + 1) === 123) {
        push('tmpl', '${', start);
        tmplStack.push(curly);
        curly++;
        push('p', '{', j + 1);
        return j + 2;
      }
      j++;
    }
    push('tmpl', '`', start);
    return n;
  };

  if (src.startsWith('#!')) {
    const e = src.indexOf('\n');
    i = e === -1 ? n : e;
  }

  while (i < n) {
    const c = src.charCodeAt(i);
    // whitespace / line terminators
    if (c === 10 || c === 13 || c === 0x2028 || c === 0x2029) { nl = true; i++; continue; }
    if (c === 32 || c === 9 || c === 11 || c === 12 || c === 0xa0 || c === 0xfeff ||
        (c >= 0x1680 && (c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x202f || c === 0x205f || c === 0x3000))) {
      i++; continue;
    }
    // comments
    if (c === 47) {
      const d = src.charCodeAt(i + 1);
      if (d === 47) {
        const e = src.indexOf('\n', i);
        i = e === -1 ? n : e;
        continue;
      }
      if (d === 42) {
        const e = src.indexOf('*/', i + 2);
        const end = e === -1 ? n : e + 2;
        if (/[\n\r\u2028\u2029]/.test(src.slice(i, end))) nl = true;
        i = end;
        continue;
      }
      if (regexAllowed()) {
        let j = i + 1, inClass = false, ok = false;
        while (j < n) {
          const r = src.charCodeAt(j);
          if (r === 10 || r === 13 || r === 0x2028 || r === 0x2029) break;
          if (r === 92) { j += 2; continue; }
          if (r === 91) inClass = true;
          else if (r === 93) inClass = false;
          else if (r === 47 && !inClass) { ok = true; j++; break; }
          j++;
        }
        if (ok) {
          while (j < n && isIdPart(src.charCodeAt(j))) j++;
          push('re', src.slice(i, j), i);
          i = j;
          continue;
        }
      }
      if (src.charCodeAt(i + 1) === 61) { push('p', '/=', i); i += 2; } else { push('p', '/', i); i++; }
      continue;
    }
    // strings
    if (c === 39 || c === 34) {
      let j = i + 1;
      while (j < n) {
        const r = src.charCodeAt(j);
        if (r === 92) { j += 2; continue; }
        if (r === c) { j++; break; }
        if (r === 10 || r === 13) break;
        j++;
      }
      push('str', src.slice(i, j), i);
      i = j;
      continue;
    }
    // template
    if (c === 96) { const s = i; i++; i = scanTemplate(s); continue; }
    // identifiers / keywords
    if (isIdStart(c)) {
      let j = i + 1;
      while (j < n) {
        const r = src.charCodeAt(j);
        if (r === 92) { j += 2; continue; }
        if (!isIdPart(r)) break;
        j++;
      }
      push('id', src.slice(i, j), i);
      i = j;
      continue;
    }
    if (c === 35) { // #private or stray #
      let j = i + 1;
      while (j < n && isIdPart(src.charCodeAt(j))) j++;
      push('priv', src.slice(i, j), i);
      i = j;
      continue;
    }
    // numbers
    if ((c >= 48 && c <= 57) || (c === 46 && src.charCodeAt(i + 1) >= 48 && src.charCodeAt(i + 1) <= 57)) {
      let j = i + 1;
      while (j < n) {
        const r = src.charCodeAt(j);
        if (isIdPart(r) || r === 46) {
          if ((r === 101 || r === 69) && !/^0[xX]/.test(src.slice(i, i + 2))) {
            const nx = src.charCodeAt(j + 1);
            if (nx === 43 || nx === 45) { j += 2; continue; }
          }
          j++;
          continue;
        }
        break;
      }
      push('num', src.slice(i, j), i);
      i = j;
      continue;
    }
    // closing } of a template substitution
    if (c === 125 && tmplStack.length && tmplStack[tmplStack.length - 1] === curly - 1) {
      tmplStack.pop();
      curly--;
      push('p', '}', i);
      const s = i;
      i++;
      i = scanTemplate(s);
      continue;
    }
    // punctuators
    let p = null;
    const cands = PUNCTS_BY_FIRST.get(src[i]);
    if (cands) {
      for (const q of cands) {
        if (src.startsWith(q, i)) { p = q; break; }
      }
    }
    if (p === '?.' && src.charCodeAt(i + 2) >= 48 && src.charCodeAt(i + 2) <= 57) p = null;
    if (!p) p = src[i];
    if (p === '{') curly++;
    else if (p === '}') curly--;
    push('p', p, i);
    i += p.length;
  }
  return toks;
}

// Matching bracket index for every ( [ { token (and the reverse), plus the innermost open bracket.
function matchBrackets(toks) {
  const match = new Int32Array(toks.length).fill(-1);
  const parent = new Int32Array(toks.length).fill(-1);
  const stack = [];
  for (let k = 0; k < toks.length; k++) {
    const t = toks[k];
    parent[k] = stack.length ? stack[stack.length - 1] : -1;
    if (t.k !== 'p') continue;
    if (t.v === '(' || t.v === '[' || t.v === '{') stack.push(k);
    else if (t.v === ')' || t.v === ']' || t.v === '}') {
      if (stack.length) {
        const o = stack.pop();
        match[o] = k;
        match[k] = o;
        parent[k] = stack.length ? stack[stack.length - 1] : -1;
      }
    }
  }
  return { match, parent };
}

// ---------------------------------------------------------------------------------------------
// ES module scope check

const FREE_NAMES = new Map([
  ['require', 'ReferenceError: require is not defined in ES module scope, you can use import instead'],
  ['module', 'ReferenceError: module is not defined in ES module scope'],
  ['exports', 'ReferenceError: exports is not defined in ES module scope'],
  ['__filename', 'ReferenceError: __filename is not defined in ES module scope'],
  ['__dirname', 'ReferenceError: __dirname is not defined in ES module scope'],
]);
const FREE_NAMES_RE = /(?:require|module|exports|__filename|__dirname)(?![\w$])/;
const CONTROL_KW = new Set(['if', 'while', 'for', 'switch', 'catch', 'with', 'return', 'typeof',
  'await', 'yield', 'in', 'of', 'new', 'delete', 'void', 'case', 'throw', 'else', 'do']);
const CLASS_MEMBER_PREV = new Set(['{', ';', '}', 'static', 'get', 'set', 'async', '*', 'accessor']);

function isP(t, v) { return t && t.k === 'p' && t.v === v; }

// Can an expression end with token t (so that a line break after it may end the statement)?
function valueEnd(t) {
  if (!t) return false;
  if (t.k === 'num' || t.k === 'str' || t.k === 're' || t.k === 'priv') return true;
  if (t.k === 'tmpl') return t.v === '`';
  if (t.k === 'id') return !KW_BEFORE_EXPR.has(t.v);
  return t.v === ')' || t.v === ']' || t.v === '}' || t.v === '++' || t.v === '--';
}
// Does token u start a new statement after a line break that follows a complete expression?
function startsStatement(u) {
  if (u.k === 'id') return !(u.v === 'in' || u.v === 'of' || u.v === 'instanceof');
  return u.k === 'num' || u.k === 'str' || u.k === 'priv' || isP(u, '{') || isP(u, '++') || isP(u, '--');
}

function freeNameUses(toks) {
  // quick exit: none of the names occur at all
  let any = false;
  for (const t of toks) if (t.k === 'id' && FREE_NAMES.has(t.v)) { any = true; break; }
  if (!any) return [];

  const { match, parent } = matchBrackets(toks);
  const declared = new Set();
  const guarded = new Set();
  const classBodies = new Set();
  const n = toks.length;

  const declareGroup = (open) => {
    const close = match[open];
    if (close < 0) return;
    for (let k = open + 1; k < close; k++) if (toks[k].k === 'id') declared.add(toks[k].v);
  };
  const declareBinding = (k) => { // a binding target at k: identifier or pattern
    const t = toks[k];
    if (!t) return;
    if (t.k === 'id') declared.add(t.v);
    else if (isP(t, '{') || isP(t, '[')) declareGroup(k);
  };

  for (let k = 0; k < n; k++) {
    const t = toks[k];
    if (t.k !== 'id') {
      if (isP(t, '=>')) {
        const p = toks[k - 1];
        if (p && p.k === 'id') declared.add(p.v);
        else if (isP(p, ')') && match[k - 1] >= 0) declareGroup(match[k - 1]);
      }
      continue;
    }
    const prev = toks[k - 1];
    if (isP(prev, '.') || isP(prev, '?.')) continue;
    switch (t.v) {
      case 'var': case 'let': case 'const': {
        declareBinding(k + 1);
        // further declarators: identifiers/patterns after a comma at the declaration's level
        const par = parent[k];
        for (let j = k + 1; j < n; j++) {
          const u = toks[j];
          if (u.k === 'p' && (u.v === '(' || u.v === '[' || u.v === '{') && match[j] > j) {
            j = match[j];
            continue;
          }
          if (u.k === 'p' && (u.v === ';' || u.v === ')' || u.v === ']' || u.v === '}')) break;
          if (parent[j] !== par) break;
          if (u.nl && valueEnd(toks[j - 1]) && startsStatement(u)) break; // ASI ends the declaration
          if (isP(u, ',')) declareBinding(j + 1);
        }
        break;
      }
      case 'function': {
        let j = k + 1;
        if (isP(toks[j], '*')) j++;
        if (toks[j] && toks[j].k === 'id') { declared.add(toks[j].v); j++; }
        if (isP(toks[j], '(')) declareGroup(j);
        break;
      }
      case 'class': {
        let j = k + 1;
        if (toks[j] && toks[j].k === 'id' && toks[j].v !== 'extends') { declared.add(toks[j].v); j++; }
        for (; j < n; j++) {
          const u = toks[j];
          if (isP(u, '{')) { classBodies.add(j); break; }
          if (u.k === 'p' && (u.v === '(' || u.v === '[') && match[j] > j) { j = match[j]; continue; }
          if (u.k === 'p' && (u.v === ';' || u.v === ')' || u.v === ']' || u.v === '}')) break;
        }
        break;
      }
      case 'import': {
        const nx = toks[k + 1];
        if (!nx || isP(nx, '(') || isP(nx, '.')) break;
        for (let j = k + 1; j < n; j++) {
          const u = toks[j];
          if (u.k === 'str' || (u.k === 'id' && u.v === 'from') || isP(u, ';')) break;
          if (u.k === 'id' && u.v !== 'as' && !(toks[j + 1] && toks[j + 1].k === 'id' && toks[j + 1].v === 'as')) {
            declared.add(u.v);
          }
        }
        break;
      }
      case 'catch':
        if (isP(toks[k + 1], '(')) declareGroup(k + 1);
        break;
      case 'typeof': {
        let j = k + 1;
        while (isP(toks[j], '(')) j++;
        if (toks[j] && toks[j].k === 'id') guarded.add(toks[j].v);
        break;
      }
      default:
        // method / function-like: name ( params ) {
        if (!CONTROL_KW.has(t.v) && isP(toks[k + 1], '(') && match[k + 1] > 0 && isP(toks[match[k + 1] + 1], '{')) {
          declareGroup(k + 1);
        }
    }
  }

  const uses = [];
  for (let k = 0; k < n; k++) {
    const t = toks[k];
    if (t.k !== 'id' || !FREE_NAMES.has(t.v)) continue;
    if (declared.has(t.v) || guarded.has(t.v)) continue;
    const prev = toks[k - 1];
    const next = toks[k + 1];
    if (isP(prev, '.') || isP(prev, '?.') || isP(prev, '#')) continue;
    if (prev && prev.k === 'id' && (prev.v === 'as' || prev.v === 'function' || prev.v === 'class')) continue;
    if (isP(next, ':') && !isP(prev, '?') && !(prev && prev.k === 'id' && prev.v === 'case')) continue; // key / label
    if (isP(next, '(') && match[k + 1] > 0 && isP(toks[match[k + 1] + 1], '{')) continue; // method name
    const par = parent[k];
    if (par >= 0 && classBodies.has(par) &&
        ((prev && prev.k === 'p' && CLASS_MEMBER_PREV.has(prev.v)) ||
         (prev && prev.k === 'id' && CLASS_MEMBER_PREV.has(prev.v)) ||
         (t.nl && valueEnd(prev)))) continue; // class member name
    uses.push(t);
  }
  return uses;
}

// ---------------------------------------------------------------------------------------------
// Import resolution

const statCache = new Map();
// Files given on stdin that are not on disk, and their folders.
function addVirtual(abs) {
  statCache.set(abs, 'file');
  for (let d = path.dirname(abs); !statCache.has(d) && d !== path.dirname(d); d = path.dirname(d)) {
    if (statKindOnDisk(d) === 'dir') break;
    statCache.set(d, 'dir');
  }
}
function statKindOnDisk(p) {
  try {
    return fs.statSync(p).isDirectory() ? 'dir' : 'file';
  } catch {
    return 'none';
  }
}
function statKind(p) {
  let r = statCache.get(p);
  if (r === undefined) {
    try {
      const st = fs.statSync(p);
      r = st.isDirectory() ? 'dir' : 'file';
    } catch {
      r = 'none';
    }
    statCache.set(p, r);
  }
  return r;
}

function checkSpecifier(spec, absFile) {
  if (!(spec.startsWith('./') || spec.startsWith('../') || spec.startsWith('/') || spec.startsWith('file:'))) {
    return null; // bare / builtin / data: / #imports: not checked
  }
  let target;
  try {
    const url = new URL(spec, pathToFileURL(absFile));
    if (url.protocol !== 'file:') return null;
    target = fileURLToPath(url);
  } catch {
    return null; // invalid specifier: node reports ERR_INVALID_MODULE_SPECIFIER; not ours
  }
  const k = statKind(target);
  if (k === 'file') return null;
  if (k === 'dir') {
    return `Error [ERR_UNSUPPORTED_DIR_IMPORT]: Directory import '${target}' is not supported resolving ES modules imported from ${absFile}`;
  }
  return `Error [ERR_MODULE_NOT_FOUND]: Cannot find module '${target}' imported from ${absFile}`;
}

function unquote(raw) {
  const q = raw[0];
  if ((q !== '"' && q !== "'") || raw.length < 2 || raw[raw.length - 1] !== q) return null;
  const body = raw.slice(1, -1);
  if (!body.includes('\\')) return body;
  try {
    return JSON.parse('"' + body.replace(/\\'/g, "'").replace(/"/g, '\\"') + '"');
  } catch {
    return body;
  }
}

// ---------------------------------------------------------------------------------------------
// Main

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

function diag(out, file, pos, message, source) {
  out.push(JSON.stringify({ file, line: pos.line, column: pos.column, message, source }) + '\n');
}

function checkFile(out, rel, kind, abs, src) {
  const nlStarts = nlLineStarts(src);
  if (kind === 'cjs') {
    try {
      vm.compileFunction(src, CJS_PARAMS, { filename: abs });
    } catch (e) {
      const v8 = parseArrow(arrowOf(e));
      const pos = v8 ? toNl(src, v8, nlStarts) : { line: 1, column: null };
      diag(out, rel, pos, `${e.name}: ${e.message}`, 'parse');
    }
    return;
  }
  let mod;
  try {
    mod = new vm.SourceTextModule(src, { identifier: abs });
  } catch (e) {
    const v8 = parseArrow(arrowOf(e)) || locateFallback(src, e.message);
    const pos = v8 ? toNl(src, v8, nlStarts) : { line: 1, column: null };
    diag(out, rel, pos, `${e.name}: ${e.message}`, 'parse');
    return;
  }
  // The scanner costs about as much as V8's parse: run it only when a name or a bad import is there.
  let toks = null;
  const tokens = () => (toks ??= tokenize(src));
  const found = [];
  if (FREE_NAMES_RE.test(src)) {
    for (const t of freeNameUses(tokens())) {
      found.push({ pos: lineColOf(nlStarts, t.s), message: FREE_NAMES.get(t.v) });
    }
  }
  const specs = mod.dependencySpecifiers || [];
  for (const spec of new Set(specs)) {
    const msg = checkSpecifier(spec, abs);
    if (!msg) continue;
    const toks = tokens();
    let pos = { line: 1, column: null };
    for (let k = 0; k < toks.length; k++) {
      const t = toks[k];
      if (t.k === 'str' && unquote(t.v) === spec) {
        pos = lineColOf(nlStarts, t.s);
        break;
      }
    }
    found.push({ pos, message: msg });
  }
  found.sort((a, b) => a.pos.line - b.pos.line || (a.pos.column || 0) - (b.pos.column || 0));
  for (const f of found) diag(out, rel, f.pos, f.message, 'link');
}

async function main() {
  let req;
  try {
    req = JSON.parse(await readStdin());
  } catch (e) {
    throw new BadRequest(`bad request: stdin is not JSON: ${e.message}`);
  }
  if (!req || typeof req !== 'object' || typeof req.root !== 'string' || !Array.isArray(req.files)) {
    throw new BadRequest('bad request: expected {"root": string, "files": [...]}');
  }
  const root = req.root;
  const files = req.files;
  for (const f of files) {
    if (!f || typeof f.path !== 'string' || (f.kind !== 'esm' && f.kind !== 'cjs')) {
      throw new BadRequest(`bad request: each file needs "path" and "kind" "esm"|"cjs": ${JSON.stringify(f)}`);
    }
  }
  if (files.some((f) => f.kind === 'esm') && typeof vm.SourceTextModule !== 'function') {
    throw new BadRequest('vm.SourceTextModule is unavailable: run node with --experimental-vm-modules');
  }
  for (const rel of Array.isArray(req.added) ? req.added : []) {
    if (typeof rel === 'string') addVirtual(path.resolve(root, rel));
  }
  for (const f of files) {
    if (typeof f.text === 'string') addVirtual(path.resolve(root, f.path));
  }
  const out = [];
  for (const f of files) {
    const abs = path.resolve(root, f.path);
    let src;
    if (typeof f.text === 'string') {
      src = f.text;
    } else {
      try {
        src = fs.readFileSync(abs, 'utf8');
      } catch (e) {
        throw new BadRequest(`cannot read ${f.path}: ${e.message}`);
      }
    }
    if (src.charCodeAt(0) === 0xfeff) src = src.slice(1); // node strips a BOM (CJS and ESM)
    checkFile(out, f.path, f.kind, abs, src);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  out.push(JSON.stringify({ summary: { files: files.length, seconds: Math.round(seconds * 1e6) / 1e6, checks: files.some((f) => f.kind === 'esm') ? ['parse', 'link'] : ['parse'] } }) + '\n');
  process.stdout.write(out.join(''));
}

try {
  await main();
} catch (e) {
  const msg = e instanceof BadRequest ? e.message : `js_check failed: ${e && e.stack ? e.stack.split('\n').slice(0, 2).join(' | ') : e}`;
  process.stderr.write(msg.replace(/\n/g, ' ') + '\n');
  process.exitCode = 2;
}
