package main

import "fmt"

func main() {
	goto L
	v := 3
	fmt.Println(v)
L:
	fmt.Println("end")
}
