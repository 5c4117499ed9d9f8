def func_entry(name):
    print("enter", name)
