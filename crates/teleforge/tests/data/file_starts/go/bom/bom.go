package bom

func F(a int) (int, error) {
	for i := 0; i < 2; i++ {
		a++
	}
	return a, nil
}
