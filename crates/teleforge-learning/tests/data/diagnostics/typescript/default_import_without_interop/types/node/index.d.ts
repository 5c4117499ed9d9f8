declare module "fs" { const x: number; export = x; }
