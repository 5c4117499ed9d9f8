'use strict';
function sum(xs: number[]): number {
  let total = 0;
  for (const x of xs) total += x;
  return total;
}
class Base { constructor(readonly n: number) {} }
class Derived extends Base { constructor(n: number) { super(n * 2) } double(): number { return this.n } }
export = { sum, Derived };
