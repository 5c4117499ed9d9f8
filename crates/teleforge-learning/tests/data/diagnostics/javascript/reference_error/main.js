function add(a, b) {
  Tel.funcEntry("add");
  return a + b;
}

console.log(add(1, 2));
