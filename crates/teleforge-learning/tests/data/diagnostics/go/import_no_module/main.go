package main

import "example.com/nothere/pkg"

func main() {
	pkg.Tel.FuncEntry("main")
}
