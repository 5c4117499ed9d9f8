// Pricing rules, as an ES module.

const RULES = {
  BULK: (total, items) => (items >= 5 ? total - 100 : total),
  HALF: (total) => total / 2,
};

export const applyCoupon = (total, code) => (RULES[code] ? RULES[code](total, 0) : total);

const pause = () => new Promise((resolve) => setImmediate(resolve));

export async function quote(cart, codes) {
  let total = cart.total;
  const rules = [];
  for (const code of codes) {
    await pause();
    const rule = RULES[code];
    if (!rule) continue;
    total = rule(total, cart.count);
    rules.push(code);
  }
  return { total, rules };
}
