export function f() { let a: number; return a }
