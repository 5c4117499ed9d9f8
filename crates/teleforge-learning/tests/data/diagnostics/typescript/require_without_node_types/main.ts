const t = require("./x.cjs");
export default t;
