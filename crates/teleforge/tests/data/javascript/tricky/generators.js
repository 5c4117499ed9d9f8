'use strict';

function* countUp(n) {
  for (let i = 1; i <= n; i++) {
    yield i;
  }
  return 'finished';
}

function* endless() {
  let i = 0;
  try {
    while (true) yield i++;
  } finally {
    endless.closed = true;
  }
}

function* delegating() {
  yield* countUp(2);
  return yield 'last';
}

function* failing() {
  yield 1;
  throw new Error('generator failed');
}

async function* ticks(n) {
  for (let i = 0; i < n; i++) {
    await null;
    yield i;
  }
}

module.exports = async function generators() {
  const all = [...countUp(3)];
  const it = countUp(1);
  const steps = [it.next(), it.next(), it.next()];
  const e = endless();
  const firstTwo = [e.next().value, e.next().value];
  e.return();
  const d = delegating();
  const delegated = [d.next().value, d.next().value, d.next().value, d.next('sent')];
  let failure = '';
  try {
    for (const x of failing()) failure += x;
  } catch (err) {
    failure += err.message;
  }
  const asyncValues = [];
  for await (const t of ticks(3)) asyncValues.push(t);
  return { all, steps, firstTwo, closed: endless.closed, delegated, failure, asyncValues };
};
