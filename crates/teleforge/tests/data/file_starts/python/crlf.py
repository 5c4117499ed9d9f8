# c

def four(a):
    x = a
    return x


print("crlf", four(4))
