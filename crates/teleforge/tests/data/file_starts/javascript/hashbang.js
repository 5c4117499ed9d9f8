#!/usr/bin/env node
function inc(a) {
  return a + 1
}
console.log("hashbang", inc(1))
