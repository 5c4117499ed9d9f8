def seven(a):
    return a + 7
print("bom", seven(0))
