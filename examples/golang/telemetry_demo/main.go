// Command telemetry_demo is the example the README instruments: a small inventory report with
// functions, methods, loops, closures, generics and named results.
package main

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"example.com/telemetry_demo/inventory"
)

// Map applies f to every element (a generic function).
func Map[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// parseQuantity has named results and an early return.
func parseQuantity(s string) (n int, err error) {
	if s == "" {
		err = errors.New("empty quantity")
		return
	}
	_, err = fmt.Sscanf(s, "%d", &n)
	return
}

func report(store *inventory.Store) []string {
	names := store.Names()
	sort.Strings(names)
	lines := Map(names, func(name string) string {
		return fmt.Sprintf("%-8s %3d", name, store.Count(name))
	})
	return lines
}

func main() {
	store := inventory.New()
	for _, item := range []struct{ name, qty string }{{"apples", "12"}, {"pears", "7"}, {"plums", ""}} {
		n, err := parseQuantity(item.qty)
		if err != nil {
			fmt.Fprintf(os.Stderr, "skipping %s: %v\n", item.name, err)
			continue
		}
		store.Add(item.name, n)
	}
	total := 0
	for i := 0; i < 3; i++ {
		total += i
	}
	for _, line := range report(store) {
		fmt.Println(line)
	}
	fmt.Println("total:", store.Total(), total)
}
