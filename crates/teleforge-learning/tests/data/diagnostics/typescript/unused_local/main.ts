export function f(a: number) { const s = 1; return a }
