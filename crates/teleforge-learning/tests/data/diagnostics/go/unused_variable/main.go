package main

import "fmt"

func main() {
	start := 42
	fmt.Println("done")
}
