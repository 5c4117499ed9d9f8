#!/usr/bin/env python3
# -*- coding: latin-1 -*-
def width(s):
    return len(s)
print("shebang_coding", width("é"))
