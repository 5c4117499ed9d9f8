import { Tel } from "./tel.mjs";

Tel.funcEntry("main");
