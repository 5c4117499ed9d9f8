package main

import "fmt"

func main() {
	Tel.FuncEntry("main"
	fmt.Println("hi")
}
