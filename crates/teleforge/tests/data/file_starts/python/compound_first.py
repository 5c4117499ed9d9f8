#!/usr/bin/env python3
def sign(a):
    if a < 0:
        return -1
    return 1
print("compound_first", sign(-3))
