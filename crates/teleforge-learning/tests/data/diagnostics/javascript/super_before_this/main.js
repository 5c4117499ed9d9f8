class Base {}

class Child extends Base {
  constructor() {
    this.name = "child";
    super();
  }
}

new Child();
