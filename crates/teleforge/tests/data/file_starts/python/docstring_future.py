"""Module docstring."""

from __future__ import annotations


def ident(a: int) -> int:
    return a
print("docstring_future", __doc__, ident(3))
