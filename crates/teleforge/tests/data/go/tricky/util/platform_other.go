//go:build !linux

package util

// Platform names the platform this file was built for.
func Platform() string { return "other" }
