def func_entry(name, depth):
    print("enter", name, depth)


func_entry("main")
