'use strict';

// Line numbers are behaviour: stack traces must still point at these lines.

function where() {
  return new Error('here').stack;
}

function caller() {
  return where();
}

const arrowWhere = () => new Error('arrow').stack;

function thrower() {
  throw new Error('thrown');
}

function lines(stackText) {
  return stackText
    .split('\n')
    .slice(1, 3)
    .map((l) => (l.match(/stack\.js:(\d+):\d+/) || [])[1])
    .join('<');
}

module.exports = function stack() {
  let thrown = '';
  try {
    thrower();
  } catch (e) {
    thrown = lines(e.stack);
  }
  return [lines(caller()), lines(arrowWhere()), thrown].join(' ');
};
