export const Telemetry = { funcEntry(name) { console.log("enter", name); } };
