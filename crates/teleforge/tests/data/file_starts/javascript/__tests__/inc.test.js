function inc(a) { return a + 1 }
module.exports = inc
