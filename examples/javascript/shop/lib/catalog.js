'use strict';

class Product {
  #stock;
  digital = false;
  static count = 0;

  constructor(sku, name, price, stock) {
    this.sku = sku;
    this.name = name;
    this.price = price;
    this.#stock = stock;
    Product.count++;
  }

  get label() {
    return `${this.name} [${this.sku}]`;
  }

  get price() {
    return this._price;
  }

  set price(cents) {
    if (!Number.isInteger(cents) || cents < 0) {
      throw new RangeError(`bad price for ${this.sku}: ${cents}`);
    }
    this._price = cents;
  }

  get stock() {
    return this.#stock;
  }

  take(qty) {
    if (qty > this.#stock) {
      throw new Error(`only ${this.#stock} ${this.name} left`);
    }
    this.#stock -= qty;
    return this.#stock;
  }

  refill(qty) {
    this.#stock += qty;
  }
}

class DigitalProduct extends Product {
  digital = true;

  constructor(sku, name, price, url) {
    super(sku, name, price, Infinity);
    this.url = url;
  }

  take(qty) {
    return super.take(qty) && Infinity;
  }
}

function* skus(products) {
  for (const p of products) {
    yield p.sku;
  }
}

function makeIdGenerator(prefix) {
  let n = 0;
  return () => `${prefix}-${++n}`;
}

module.exports = { Product, DigitalProduct, skus, makeIdGenerator };
