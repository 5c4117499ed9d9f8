from tel import Tel

Tel.func_entry("main")
