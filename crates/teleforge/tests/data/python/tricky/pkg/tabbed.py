"""Tab-indented module."""


def tabbed_sum(xs):
	total = 0
	for x in xs:
		total += x
	return total
