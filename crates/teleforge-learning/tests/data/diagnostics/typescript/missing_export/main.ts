import { nope } from "./other.js";
export const x = nope;
