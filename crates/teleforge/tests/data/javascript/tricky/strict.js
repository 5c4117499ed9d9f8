'use strict'
// A directive without a semicolon; the runtime import must go after it, or strict mode is lost.

function thisIsUndefined() {
  return this === undefined
}

function assignUndeclared() {
  try {
    undeclaredByTeleforgeTest = 1
    return 'created a global'
  } catch (e) {
    return e.name
  }
}

function writeFrozen() {
  const o = Object.freeze({ a: 1 })
  try {
    o.a = 2
    return 'ignored'
  } catch (e) {
    return e.name
  }
}

function octalEscape() {
  try {
    return eval("'\\07'").length
  } catch (e) {
    return e.name
  }
}

module.exports = () => [thisIsUndefined(), assignUndeclared(), writeFrozen(), octalEscape()].join(' ')
