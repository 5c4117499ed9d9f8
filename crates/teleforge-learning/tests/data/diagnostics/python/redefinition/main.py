def func_entry(name):
    pass


def func_entry(name):
    print("enter", name)
