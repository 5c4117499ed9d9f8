"Concatenated " "docstring."
def same(a):
    "Doc " "of same."
    x = a
    return x
print("concat_doc", __doc__, same.__doc__, same(1))
