package fixture

func F(a int) int {
	return a
}
