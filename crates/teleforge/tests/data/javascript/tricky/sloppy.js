// No file-level directive: only one function is strict, by its own prologue.

function strictInside(a) {
  "use strict"; "another directive"
  return [this === undefined, typeof a]
}

function sloppyInside() {
  return this === undefined
}

function withArguments(a, b) {
  arguments[0] = 'changed'
  return a + b
}

module.exports = function sloppy() {
  return JSON.stringify([strictInside(1), sloppyInside(), withArguments('x', 'y')])
}
