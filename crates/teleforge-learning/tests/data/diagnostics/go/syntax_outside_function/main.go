package main

import "fmt"

Tel.FuncEntry("init")

func main() {
	fmt.Println("hi")
}
