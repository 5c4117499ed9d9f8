export const square = (x) => x * x;

export class Tally {
  total = 0;
  add(v) {
    this.total += v;
    return this;
  }
}

export default function unused() {
  return 'unused';
}
