// CommonJS by its extension inside a "type": "module" package.
const path = require('path');

function describe() {
  const base = path.basename(__filename);
  return `${base} in ${path.basename(__dirname)}`;
}

module.exports = { describe };
