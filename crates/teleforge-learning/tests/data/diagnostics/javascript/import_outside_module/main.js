import { Tel } from "./tel.js";

Tel.funcEntry("main");
