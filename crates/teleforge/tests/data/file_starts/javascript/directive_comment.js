"use strict" // keep it strict
function ident(a) {
  "use strict" /* inner */
  return a
}
console.log("directive_comment", ident(1), (function () { return this })() === undefined)
