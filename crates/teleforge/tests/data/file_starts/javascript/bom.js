'use strict'
function two(a) { return a + 2 }
console.log('bom', two(0), (function () { return this })() === undefined)
