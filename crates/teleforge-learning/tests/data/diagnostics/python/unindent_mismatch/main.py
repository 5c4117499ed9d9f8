def add(a, b):
    if a > b:
        tel.func_entry("add")
      return a + b
