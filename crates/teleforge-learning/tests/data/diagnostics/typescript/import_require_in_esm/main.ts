import t = require("./other.js");
export const x = t;
