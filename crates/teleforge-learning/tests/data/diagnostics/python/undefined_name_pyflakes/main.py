def add(a, b):
    tel.func_entry("add")
    return a + b
