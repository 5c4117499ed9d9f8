const Tel = require("./tel");

Tel.funcEntry("main");
