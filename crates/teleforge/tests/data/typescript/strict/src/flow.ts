import { Circle } from './classes.js';
export function* countUp(n: number): Generator<number, string, void> { for (let i = 0; i < n; i++) yield i; return 'done' }
export async function* ticks(n: number): AsyncGenerator<number> { for (let i = 0; i < n; i++) { await null; yield i } }
export function failing(): Generator<number> { return (function* inner() { yield 1; throw new Error('generator failed') })() }
export async function loops(xs: readonly number[], o: Record<string, number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < 3; i++) out.push(i);
  for (const k in o) { out.push(o[k] ?? 0) }
  for (const x of xs) out.push(x);
  let n = 0;
  while (n < 3) n++;
  do n--; while (n > 0);
  for await (const t of ticks(2)) { out.push(t) }
  let hot = 0;
  for (let i = 0; i < 100000; i++) { hot += i % 7 }
  out.push(hot);
  return out;
}
export function chained(): number {
  let a: number, b: number;
  a = b = 5;
  a += b;
  const c = new Circle(1);
  return a + c.r;
}
export function caught(): string {
  try { JSON.parse('{') } catch (e) { return e instanceof SyntaxError ? 'syntax' : 'other' }
  return 'none';
}
