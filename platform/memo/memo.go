// Package memo is what a process remembers to skip work it did before: a
// map of at most Max entries, safe for concurrent use, that starts over
// when full (no eviction order to maintain on the hot path; what was
// forgotten is simply done again). Callers keep with each value what makes
// it still true (a revision, a version) and check it on the way out.
package memo

import "sync"

// DefaultMax bounds a Map whose Max is not set.
const DefaultMax = 10_000

// Map remembers values by key. Its zero value is ready to use.
type Map[V any] struct {
	Max int // entries before it starts over; 0: DefaultMax

	mu sync.Mutex
	m  map[string]V
}

// Get returns what is remembered under key.
func (m *Map[V]) Get(key string) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[key]
	return v, ok
}

// Put remembers v under key, forgetting everything else first when the map
// is full.
func (m *Map[V]) Put(key string, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	limit := m.Max
	if limit <= 0 {
		limit = DefaultMax
	}
	if _, known := m.m[key]; m.m == nil || (!known && len(m.m) >= limit) {
		m.m = map[string]V{}
	}
	m.m[key] = v
}
