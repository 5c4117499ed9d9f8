export function f(a: number): number {
  try {
    return g();
    function g() { return a }
  } finally {}
}
