package memo

import (
	"strconv"
	"sync"
	"testing"
)

func TestMapRemembersUpToItsBoundThenStartsOver(t *testing.T) {
	var m Map[int]
	m.Max = 3
	if _, ok := m.Get("a"); ok {
		t.Fatal("an empty map remembers a")
	}
	for i, k := range []string{"a", "b", "c"} {
		m.Put(k, i)
	}
	m.Put("a", 10) // a key it holds is replaced, nothing forgotten
	if v, ok := m.Get("a"); !ok || v != 10 {
		t.Fatalf("a = %d %v, want 10", v, ok)
	}
	if _, ok := m.Get("c"); !ok {
		t.Fatal("c forgotten when a was replaced")
	}
	m.Put("d", 4) // a fourth key: it starts over
	if _, ok := m.Get("a"); ok {
		t.Fatal("a still remembered past the bound")
	}
	if v, ok := m.Get("d"); !ok || v != 4 {
		t.Fatalf("d = %d %v, want 4", v, ok)
	}
}

func TestMapIsSafeForConcurrentUse(t *testing.T) {
	var m Map[string]
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				k := strconv.Itoa(w*1000 + i)
				m.Put(k, k)
				if v, ok := m.Get(k); ok && v != k {
					t.Errorf("%s = %s", k, v)
				}
			}
		}()
	}
	wg.Wait()
}
