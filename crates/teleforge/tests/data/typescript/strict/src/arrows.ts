export const object = (a: number) => ({ a, twice: a * 2 });
export const twice = (x: number): number => x * 2;
let ticks = 0;
const tick = () => ++ticks;
export const sequence = (a: number) => (tick(), a + 6);
export const multiline = (a: string, b: string) =>
  a +
  b;
export const thrower = (): never => { throw new Error('arrow threw') };
export function withDefault(a: number, { b = 2, c }: { b?: number; c: number } = { c: 3 }, ...rest: number[]): number {
  return a + b + c + rest.length;
}
export const literal = () => 'lit';
export const tuple = () => [1, 'x'] as const;
export const narrowed = (v: string | number) => typeof v === 'string' ? v.length : v;
export function contextual(): (x: number) => number { return (x) => x + 1 }
export const generic = <T,>(v: T): T[] => [v];
export class Counter {
  count = 0;
  readonly increment = (by: number = 1): number => (this.count += by);
}
