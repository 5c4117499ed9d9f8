declare module "path" { export const sep: string; }
