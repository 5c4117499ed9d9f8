import * as t from "./_teleforge_tel.cjs";
export const x = t;
