'use strict'
function count(a) {
	let x = a
	for (let i = 0; i < 2; i++) x++
	return x
}
console.log('crlf_tabs', count(1))
