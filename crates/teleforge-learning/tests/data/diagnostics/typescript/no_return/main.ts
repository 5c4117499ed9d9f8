export function f(a: number): number { if (a) { return 1 } }
