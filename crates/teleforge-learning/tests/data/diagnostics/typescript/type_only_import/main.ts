import { T } from "./other.js";
export const x: T = 1;
