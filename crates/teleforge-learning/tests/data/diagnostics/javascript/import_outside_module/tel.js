export const Tel = { funcEntry(name) { console.log("enter", name); } };
