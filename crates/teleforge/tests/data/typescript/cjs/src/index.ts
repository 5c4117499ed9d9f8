import util = require('./util.cjs');
function main(args: string[]): string {
  const d = new util.Derived(args.length);
  const parts = args.map((a) => a.toUpperCase());
  return `${util.sum([1, 2, 3])} ${d.double()} ${parts.join('-')}`;
}
const result = main(['a', 'b']);
export = result;
