export function f(a: number) { return (a + 1 }
