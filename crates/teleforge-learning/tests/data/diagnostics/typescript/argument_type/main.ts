function g(n: number) { return n }
export const x = g("a");
