class A {}
export class B extends A { x = 1; constructor() { try { super() } finally {} } }
