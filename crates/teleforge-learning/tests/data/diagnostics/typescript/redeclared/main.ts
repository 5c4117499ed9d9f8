export function f(a: number) { const s = 1; const s = 2; return a + s }
