def dec(a): return a - 1
print("def_first", dec(5))