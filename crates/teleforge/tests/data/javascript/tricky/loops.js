'use strict';

async function loops() {
  const out = [];
  for (let i = 0; i < 3; i++) out.push(i);
  for (const k in { a: 1, b: 2 }) out.push(k);
  for (const v of ['x', 'y']) {
    out.push(v);
  }
  let n = 0;
  while (n < 3) n++;
  do n--; while (n > 1);
  let spins = 0;
  while (spins++ < 4);
  outer: for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      if (j === 1) continue outer;
      if (i === 2) break outer;
      out.push(`${i}${j}`);
    }
  }
  for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) out.push(i * j);
  if (n) for (const c of 'ab') out.push(c);
  else out.push('never');
  async function* source() {
    yield 'p';
    yield 'q';
  }
  for await (const s of source()) out.push(s);
  let hot = 0;
  for (let i = 0; i < 100000; i++) {
    hot += i % 7;
  }
  out.push(hot, n, spins);
  return out;
}

module.exports = loops;
