#!/usr/bin/env python3
"""A small bookshop report: the example the README instruments for Python.

It has functions, methods, a class hierarchy, loops, closures, a generator, an async function, a
decorator of its own and a nested function.
"""
from __future__ import annotations

import asyncio

from bookshop.catalog import Catalog, Book
from bookshop.pricing import discounted, price_table


def timed(fn):
    """A user decorator: teleforge's goes outside it."""

    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    wrapper.__name__ = fn.__name__
    return wrapper


@timed
def build_catalog() -> Catalog:
    catalog = Catalog()
    for title, author, price in [("Dune", "Herbert", 9.5), ("Emma", "Austen", 7.0), ("Ubik", "Dick", 8.25)]:
        catalog.add(Book(title, author, price))
    return catalog


def authors(catalog: Catalog):
    for book in catalog.books:
        yield book.author


async def total_async(catalog: Catalog) -> float:
    await asyncio.sleep(0)
    return sum(b.price for b in catalog.books)


def main():
    catalog = build_catalog()
    rate = 0.1
    apply = lambda p: discounted(p, rate)  # noqa: E731 - a lambda holds no statements
    for line in price_table(catalog, apply):
        print(line)
    print("authors:", ", ".join(sorted(authors(catalog))))
    total = asyncio.run(total_async(catalog))
    print(f"total: {total:.2f}")
    count = 0
    while count < 3:
        count += 1
    print("counted:", count)


if __name__ == "__main__":
    main()
