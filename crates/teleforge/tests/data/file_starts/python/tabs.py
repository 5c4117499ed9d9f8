class Box:
	def total(self, xs):
		n = 0
		for x in xs:
			if x:
				n += x
		return n
print("tabs", Box().total([1, 2]))
