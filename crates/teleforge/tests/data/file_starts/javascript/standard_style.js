'use strict'
function first (xs) {
  for (const x of xs) if (x > 1) return x
  return null
}
function maker (a) {
  while (a) return () => a
  return () => 0
}
console.log('standard_style', first([1, 2, 3]), maker(4)())
