
def double(a):
    return a * 2
print("blank_first", double(2))
