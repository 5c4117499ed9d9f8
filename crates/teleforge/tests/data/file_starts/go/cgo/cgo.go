package cgo

/*
#include <stdlib.h>
*/
import (
	"C"
)

func Abs(a int) int {
	return int(C.abs(C.int(a)))
}
