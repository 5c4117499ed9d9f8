
def eight(a):
    return a + 8
print("bom_blank", eight(0))
