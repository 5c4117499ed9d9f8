/*
package docs is what this comment says; the clause below names the package.
*/
package blockdoc

func F(a int) int {
	return a
}
