//go:build linux || darwin || windows
// +build linux darwin windows

// Package tags has build constraints above its doc comment.
package tags

func F(a int) int {
	x := a + 1
	return x
}
