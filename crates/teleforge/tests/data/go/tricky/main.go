package main

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"example.com/tricky/util"
)

var initialized string

func init() {
	initialized = "yes"
}

// named and unnamed results
func divide(a, b int) (q int, err error) {
	if b == 0 {
		return 0, errors.New("division by zero")
	}
	q = a / b
	return
}

func pair(s string) (string, int) { return strings.ToUpper(s), len(s) }

func single() int { return 42 }

// variadic
func join(sep string, parts ...string) string {
	return strings.Join(parts, sep)
}

// generics
type Number interface{ ~int | ~float64 }

func Sum[T Number](xs ...T) (total T) {
	for _, x := range xs {
		total += x
	}
	return
}

type Stack[T any] struct{ items []T }

func (s *Stack[T]) Push(v T) { s.items = append(s.items, v) }

func (s Stack[T]) Len() int { return len(s.items) }

// a value holding a lock, passed by pointer and by value receiver of a different type
type Guarded struct {
	mu sync.Mutex
	n  int
}

func (g *Guarded) Inc() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	return g.n
}

func describe(g *Guarded, label string) string { return fmt.Sprintf("%s=%d", label, g.n) }

//go:nosplit
func fast(x int) int { return x + 1 }

// goto over declarations
func countdown(n int) string {
	out := ""
loop:
	if n == 0 {
		goto done
	}
	out += fmt.Sprint(n)
	n--
	goto loop
done:
	return out
}

// closures and a line-number probe
func where() int {
	_, _, line, _ := runtime.Caller(0)
	return line
}

func apply(f func(int) int, v int) int { return f(v) }

func main() {
	fmt.Println("init:", initialized)
	q, err := divide(7, 2)
	fmt.Println("divide:", q, err)
	_, err = divide(1, 0)
	fmt.Println("divide by zero:", err)
	s, n := pair("go")
	fmt.Println("pair:", s, n, single())
	fmt.Println("join:", join("-", "a", "b", "c"))
	fmt.Println("sum:", Sum(1, 2, 3), Sum(1.5, 2.5))
	st := &Stack[string]{}
	st.Push("x")
	st.Push("y")
	fmt.Println("stack:", st.Len())
	g := &Guarded{}
	g.Inc()
	fmt.Println("guarded:", describe(g, "n"), fast(1))
	fmt.Println("countdown:", countdown(3))
	double := func(v int) int { return v * 2 }
	fmt.Println("closure:", apply(double, 21), apply(func(v int) int { return v + 1 }, 1))
	fmt.Println("line:", where())
	fmt.Println("util:", util.Reverse("abc"), util.Platform())
	var wg sync.WaitGroup
	results := make([]int, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = Sum(i, i)
		}(i)
	}
	wg.Wait()
	fmt.Println("goroutines:", results)
	total := 0
	for i := 0; i < 5000; i++ {
		total += i
	}
	fmt.Println("hot loop:", total)
}
