'use strict';

class Cart {
  items = new Map();
  totalWith = (tax) => Math.round(this.total * (1 + tax));

  constructor(id) {
    this.id = id;
  }

  add(product, qty = 1) {
    product.take(qty);
    const line = this.items.get(product.sku) || { product, qty: 0 };
    line.qty += qty;
    this.items.set(product.sku, line);
    return this;
  }

  get count() {
    let n = 0;
    for (const { qty } of this.items.values()) n += qty;
    return n;
  }

  get total() {
    let sum = 0;
    for (const line of this.lines()) {
      sum += line.subtotal;
    }
    return sum;
  }

  *lines() {
    const sorted = [...this.items.values()].sort((a, b) => a.product.sku.localeCompare(b.product.sku));
    for (const { product, qty } of sorted) {
      yield { name: product.name, qty, subtotal: product.price * qty };
    }
  }
}

function restock(products, round) {
  let added = 0;
  for (let i = 0; i < products.length; i++) {
    const p = products[i];
    if (p.digital) continue;
    if (p.stock < round) {
      p.refill(1);
      added++;
    }
  }
  return added;
}

module.exports = { Cart, restock };
