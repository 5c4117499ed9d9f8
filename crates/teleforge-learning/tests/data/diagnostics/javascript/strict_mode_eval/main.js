"use strict";

function run(eval) {
  return eval;
}
