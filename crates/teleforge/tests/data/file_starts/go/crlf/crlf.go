package crlf

func F(a int) int {
	x := a
	return x
}
