'use strict';

// The user's own `Tel` (and a `require` of their own): teleforge's names must not clash.
const Tel = {
  funcEntry() {
    throw new Error('the user Tel was called');
  },
  name: 'users-tel',
};

function report(x) {
  return `${Tel.name}/${x}`;
}

function Tel2() {
  return typeof Tel.funcEntry;
}

module.exports = () => report(Tel2());
