export function f() { try { return 1 } catch (e) { return e.message } }
