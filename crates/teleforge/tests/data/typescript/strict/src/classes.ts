export abstract class Shape implements Iterable<number> {
  static #made = 0;
  #secret = 'hidden';
  protected name: string;
  constructor(name: string) { Shape.#made++; this.name = name }
  abstract area(): number;
  get label(): string { return `${this.name}:${this.#reveal()}` }
  set label(v: string) { this.name = v }
  static get count(): number { return Shape.#made }
  #reveal(): string { return this.#secret.length > 0 ? 'ok' : 'no' }
  *[Symbol.iterator](): Iterator<number> { yield this.area(); yield 0 }
  async later(x: number): Promise<number> { await null; return x + 1 }
}
export class Circle extends Shape {
  private readonly rest: number[];
  constructor(public r: number, ...rest: number[]) { super('circle'); this.rest = rest }
  override area(): number { return Math.round(Math.PI * this.r * this.r) + this.rest.length }
}
export class Square extends Shape {
  side!: number;
  constructor(side: number) {
    super('square');
    this.side = side;
  }
  override area(): number { return this.side * this.side }
}
export class Plain extends Shape {
  constructor() { super('plain') }
  area(): number { return 0 }
}
export const point = {
  x: 1, y: 2,
  get sum(): number { return this.x + this.y },
  'quoted key'(): string { return 'q' },
};
export function overloaded(a: string): string;
export function overloaded(a: number): number;
export function overloaded(a: string | number): string | number { return typeof a === 'string' ? a.toUpperCase() : a * 10 }
declare global { interface Window { teleforgeTest?: number } }
export enum Color { Red = 1, Green = Red << 1 }
export namespace Geometry { export function unit(): number { return 1 } }
export type Pair = readonly [number, number];
export function isPair(v: unknown): v is Pair { return Array.isArray(v) && v.length === 2 }
export function assertPositive(n: number): asserts n { if (n <= 0) throw new Error('not positive') }
export function definite(): number {
  let v!: number;
  init();
  return v;
  function init() { v = 3 }
}
export const config = { retries: 3, name: 'svc' } satisfies Record<string, string | number>;
