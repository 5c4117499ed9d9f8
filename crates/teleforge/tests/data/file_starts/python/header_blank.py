# Copyright header
# SPDX-License-Identifier: MIT

def inc(a):
    return a + 1


print("header_blank", inc(1))
