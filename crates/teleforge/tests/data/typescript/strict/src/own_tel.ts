const Tel = { calls: 0, report(x: number): number { this.calls++; return x } };
export function report(x: number): string { Tel.report(x); return `own Tel ${Tel.calls}` }
