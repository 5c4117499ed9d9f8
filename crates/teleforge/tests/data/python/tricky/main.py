"""Tricky Python for teleforge: every construct the issue lists, with deterministic output."""
from __future__ import annotations

import asyncio
import functools
import sys

from pkg import shapes
from pkg.tabbed import tabbed_sum

counter = 0


def line_here():
    return sys._getframe().f_lineno


def bump():
    global counter
    counter += 1
    return counter


def outer(n):
    total = 0

    def inner(k):
        nonlocal total
        total += k
        return total

    for i in range(n):
        inner(i)
    return total


def gen(n):
    """A generator with a return value."""
    for i in range(n):
        yield i * i
    return "done"


async def fetch(x):
    await asyncio.sleep(0)
    return x * 2


async def agen(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


async def run_async():
    values = [v async for v in agen(3)]
    doubled = await asyncio.gather(fetch(1), fetch(2))
    return values, doubled


@functools.lru_cache(maxsize=None)
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def only_docstring():
    """Nothing but a docstring."""


def one_liner(x): return x + 1


def raises():
    try:
        raise ValueError("boom")
    except ValueError as e:
        return e.__traceback__.tb_lineno


def main():
    print("probe line:", line_here())
    print("bump:", bump(), bump())
    print("outer:", outer(4))
    g = gen(3)
    print("gen:", list(g))
    print("async:", asyncio.run(run_async()))
    print("fib:", fib(15))
    print("docstring:", only_docstring(), only_docstring.__doc__)
    print("one liner:", one_liner(1))
    print("raise line:", raises())
    square = lambda v: v * v  # noqa: E731
    print("lambda:", square(7))
    s = shapes.Square(3)
    print("shapes:", s.area(), s.side, shapes.Square.unit().area(), shapes.Shape.kind(), shapes.describe(s))
    print("tabbed:", tabbed_sum([1, 2, 3]))
    hot = 0
    for i in range(20000):
        hot += i
    print("hot:", hot)


if __name__ == "__main__":
    main()
