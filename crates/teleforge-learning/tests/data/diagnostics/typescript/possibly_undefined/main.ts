export function f(a?: { n: number }) { return a.n }
