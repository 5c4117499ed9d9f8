import fs from "fs";
export const x = fs;
