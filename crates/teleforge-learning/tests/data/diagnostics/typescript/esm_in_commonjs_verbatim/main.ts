import * as path from "path";
export const x = path;
