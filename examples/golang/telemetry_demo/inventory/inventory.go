// Package inventory keeps counts of named items.
package inventory

import "sync"

// Store is safe for concurrent use; it holds a lock, so it is passed by pointer.
type Store struct {
	mu     sync.Mutex
	counts map[string]int
}

// New returns an empty store.
func New() *Store {
	return &Store{counts: map[string]int{}}
}

// Add adds n items called name.
func (s *Store) Add(name string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[name] += n
}

// Count returns how many items called name there are.
func (s *Store) Count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[name]
}

// Names lists the item names.
func (s *Store) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.counts))
	for name := range s.counts {
		names = append(names, name)
	}
	return names
}

// Total sums every count.
func (s *Store) Total() (sum int) {
	for _, name := range s.Names() {
		sum += s.Count(name)
	}
	return sum
}

// Snapshot copies the counts; its value receiver holds no lock.
func (c Counts) Snapshot() map[string]int {
	out := make(map[string]int, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// Counts is a plain map of counts.
type Counts map[string]int
