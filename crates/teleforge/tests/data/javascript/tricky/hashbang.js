#!/usr/bin/env node
'use strict';
// A script: the hashbang stays alone on line 1, the directive stays first.

function greet(name) {
  return `hello ${name}`;
}

console.log(greet('script'), (function () { return this === undefined; })());
