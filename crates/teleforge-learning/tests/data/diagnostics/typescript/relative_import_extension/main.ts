import { y } from "./other";
export const x = y;
