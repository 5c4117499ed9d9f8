"""Prices, with tabs for indentation (teleforge follows the file)."""


def discounted(price, rate):
	return round(price * (1 - rate), 2)


def price_table(catalog, apply):
	rows = []
	for book in sorted(catalog.books, key=lambda b: b.title):
		new = apply(book.price)
		rows.append(f"{book.label():<20} {book.price:>6.2f} -> {new:>6.2f}")
	return rows
