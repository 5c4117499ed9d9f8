// header
/* block
   comment */
"use strict";
"use client"
function inc(a) { return a + 1 }
console.log("header_directives", inc(1), (function () { return this })() === undefined)
