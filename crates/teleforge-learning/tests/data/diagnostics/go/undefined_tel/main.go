package main

import "fmt"

func add(a, b int) int {
	Tel.FuncEntry("add")
	defer Tel.FuncExit("add")
	return a + b
}

func main() {
	fmt.Println(add(1, 2))
}
