package main

import "fmt"

func label(s string) {
	fmt.Println(s)
}

func main() {
	x := 10
	label(x)
}
