export function f() { const a = 1; a = 2; return a }
