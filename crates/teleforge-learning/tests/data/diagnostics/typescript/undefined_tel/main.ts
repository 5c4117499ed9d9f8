export function f(a: number) { __teleforgeTel.loopIter("f", "main.ts", 1); return a }
