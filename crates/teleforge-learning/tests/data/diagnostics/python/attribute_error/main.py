class Tel:
    @staticmethod
    def func_entry(name):
        print("enter", name)


Tel.func_exit("main")
