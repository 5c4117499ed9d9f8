package main

import (
	"fmt"

	"example.com/filestarts/blockdoc"
	"example.com/filestarts/bom"
	"example.com/filestarts/crlf"
	"example.com/filestarts/oneline"
	"example.com/filestarts/tags"
)

func main() {
	b, err := bom.F(3)
	fmt.Println(blockdoc.F(1), b, err, crlf.F(4), oneline.F(5), oneline.G(), tags.F(6))
}
