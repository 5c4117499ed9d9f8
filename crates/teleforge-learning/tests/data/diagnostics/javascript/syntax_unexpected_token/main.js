function add(a, b) {
  Tel.funcEntry("add");;
  return a + + ;
}
