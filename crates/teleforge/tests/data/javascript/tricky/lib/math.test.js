const assert = require('assert');
function check() {
  assert.strictEqual(1 + 1, 2);
}
check();
