export function f(a: number) { return a + missingName }
