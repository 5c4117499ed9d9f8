def run(xs):
    out = []
    for x in xs:

        def get():
            return x
        out.append(get())
    return out
print("loop_blank_def", run([1, 2]))
