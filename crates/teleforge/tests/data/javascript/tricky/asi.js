// No semicolons: every insertion must end its own statement.

function swap(a, b) {
  let x = a
  let y = b
  ;[x, y] = [y, x]
  return [x, y]
}

function postfix() {
  let y = 1
  let x = 0
  x = y++
  ;(function noop() {})()
  x += 10
  const z = `template
spanning lines`
  return [x, y, z.length]
}

function emptyReturn(flag) {
  if (flag) return
  return 'value'
}

function returnOnNextLine() {
  return (
    'parenthesised'
  )
}

function chained() {
  let a, b
  a = b = 5
  return a + b
}

module.exports = function asi() {
  return [swap(1, 2), postfix(), emptyReturn(true) === undefined, emptyReturn(false), returnOnNextLine(), chained()]
}
