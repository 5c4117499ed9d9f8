import result = require('./index');
console.log(result);
