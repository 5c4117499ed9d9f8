package main

import "fmt"

func main() {
	var count int = 3
	var ratio float64 = 1.5
	fmt.Println(count * ratio)
}
