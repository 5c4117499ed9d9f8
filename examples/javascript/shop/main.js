#!/usr/bin/env node
'use strict';

// A small shop: a catalog of products, a cart, and pricing rules in an ES module.
// Run: node main.js   (with TELEMETRY_FILE=events.jsonl once instrumented)

const { Product, DigitalProduct, skus, makeIdGenerator } = require('./lib/catalog.js');
const { Cart, restock } = require('./lib/cart.js');

function formatMoney(cents) {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(Math.round(cents));
  return `${sign}$${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

const byName = (a, b) => a.name.localeCompare(b.name);

async function main() {
  const pricing = await import('./lib/pricing.mjs');
  const nextId = makeIdGenerator('order');
  const products = [
    new Product('tea', 'Green tea', 450, 10),
    new Product('mug', 'Mug', 1200, 2),
    new DigitalProduct('ebook', 'Tea handbook', 999, 'https://example.com/tea.pdf'),
  ];
  console.log('catalog:', [...skus(products)].join(', '));
  for (const p of [...products].sort(byName)) {
    console.log(`  ${p.label} ${formatMoney(p.price)}${p.digital ? ' (download)' : ''}`);
  }

  const cart = new Cart(nextId());
  cart.add(products[0], 3);
  cart.add(products[1]);
  cart.add(products[2]);
  try {
    cart.add(products[1], 5);
  } catch (e) {
    console.log('refused:', e.message);
  }
  products[0].price = 500; // setter, with validation
  try {
    products[0].price = -1;
  } catch (e) {
    console.log('refused:', e.message);
  }

  for (const line of cart.lines()) {
    console.log(`  ${line.qty} x ${line.name} = ${formatMoney(line.subtotal)}`);
  }
  console.log('items:', cart.count, 'total:', formatMoney(cart.total));
  console.log('with tax:', formatMoney(cart.totalWith(0.2)));

  const coupon = pricing.applyCoupon(cart.total, 'HALF');
  console.log('with coupon:', formatMoney(coupon));
  const quote = await pricing.quote(cart, ['BULK', 'NOPE']);
  console.log('quote:', formatMoney(quote.total), quote.rules.join('+') || 'none');

  let restocked = 0;
  let round = 0;
  while (restocked < 3) {
    round++;
    restocked += restock(products, round);
  }
  console.log('restocked', restocked, 'in', round, 'rounds; next order', nextId());

  let countdown = 3;
  do {
    countdown--;
  } while (countdown > 0);
  console.log('done', countdown);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
