'use strict';

class Shape {
  static created = 0;
  #secret = 'hidden';
  name = 'shape';

  static {
    Shape.registry = [];
  }

  constructor(kind) {
    this.kind = kind;
    Shape.created++;
    Shape.registry.push(kind);
  }

  get area() {
    return 0;
  }

  get label() {
    return `${this.kind}:${this.area.toFixed(2)}`;
  }

  set label(v) {
    this.kind = v.split(':')[0];
  }

  static get count() {
    return Shape.created;
  }

  #reveal() {
    return this.#secret;
  }

  peek() {
    return this.#reveal().length;
  }

  *[Symbol.iterator]() {
    yield this.kind;
    yield this.area;
  }

  async later(x) {
    await null;
    return x + 1;
  }
}

class Circle extends Shape {
  radius = 0;

  constructor(r, ...rest) {
    const checked = Math.abs(r);
    super('circle', ...rest);
    this.radius = checked;
  }

  get area() {
    return Math.PI * this.radius ** 2;
  }
}

class Square extends Shape {
  // No constructor: the implicit one calls super(...args).
  side = 2;

  get area() {
    return this.side ** 2;
  }
}

class Early extends Shape {
  constructor(skip) {
    if (skip) {
      return { early: true };
    }
    super('early');
  }
}

const Anonymous = class extends Shape {
  constructor() {
    super('anon');
  }
};

const point = {
  x: 1,
  y: 2,
  get sum() {
    return this.x + this.y;
  },
  set both(v) {
    this.x = v;
    this.y = v;
  },
  scale(k) {
    return { x: this.x * k, y: this.y * k };
  },
  'quoted key'() {
    return 'quoted';
  },
};

module.exports = function classes() {
  const c = new Circle(-1);
  const s = new Square('square');
  s.label = 'box:0';
  point.both = 3;
  return {
    circle: c.label,
    square: s.label,
    spread: [...c],
    count: Shape.count,
    registry: Shape.registry,
    peek: c.peek(),
    later: typeof c.later(1).then,
    early: new Early(true),
    anon: new Anonymous().kind,
    point: [point.sum, point.scale(2), point['quoted key']()],
  };
};
