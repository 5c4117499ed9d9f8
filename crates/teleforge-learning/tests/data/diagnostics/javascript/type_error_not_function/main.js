const Tel = { funcEntry(name) { console.log("enter", name); } };

Tel.funcExit("main");
