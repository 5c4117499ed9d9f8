#!/usr/bin/env node
'use strict'
function inc(a) { return a + 1 }
console.log('hashbang_strict', inc(1), (function () { return this })() === undefined)
