"use strict";

const mode = 0755;
console.log(mode);
