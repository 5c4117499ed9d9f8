@(lambda fn: fn)
def listed(a):
    return [a]


@(lambda fn: fn)

def tupled(a):
    return (a,)
print("decorator_first", listed(1), tupled(2))
