'use strict';

const object = (a) => ({ a, kind: 'object' });
const curry = (a) => (b) => (c) => a + b + c;
const twice = async (x) => x * 2;
const sequence = (a) => (a, a + 1);
const conditional = (x) => x > 2 ? 'big' : 'small';
const commented = (x) => x + 1 // a comment after the body
const multiline = (items) =>
  items
    .map((x) => x * 10)
    .filter((x) => x > 10);
const iife = (() => 42)();
const thrower = () => { throw new Error('arrow threw'); };
const throwsInExpression = (o) => o.missing.field;

function withDefault(f = (x) => x + 1) {
  return f(1);
}

function returnsArrow() {
  return () => 'inner'
}

class Counter {
  count = 0;
  increment = () => ++this.count;
  static make = () => new Counter();
}

module.exports = async function arrows() {
  const c = Counter.make();
  c.increment();
  c.increment();
  let caught = '';
  try {
    thrower();
  } catch (e) {
    caught = e.message;
  }
  try {
    throwsInExpression({});
  } catch (e) {
    caught += ' / ' + e.name;
  }
  return {
    object: object(1),
    curry: curry(1)(2)(3),
    twice: await twice(21),
    sequence: sequence(5),
    conditional: [conditional(1), conditional(3)],
    commented: commented(1),
    multiline: multiline([1, 2, 3]),
    iife,
    withDefault: withDefault(),
    returnsArrow: returnsArrow()(),
    counter: c.count,
    caught,
  };
};
