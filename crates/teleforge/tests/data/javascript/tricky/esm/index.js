// An ES module by its package.json.
import { square, Tally } from './helper.js';

export async function run(n) {
  const t = new Tally();
  for (let i = 1; i <= n; i++) t.add(square(i));
  return { total: t.total, strict: (function () { return this === undefined; })() };
}
