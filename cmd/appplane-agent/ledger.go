package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Ledger remembers, per tenant, the newest request the agent carried out
// (attempt, then phase: the deployment 0, the removal of undo round r,
// r+1), in a file that survives restarts. A request at or before it — a
// redelivery, a redriven dead letter, an operator replaying the topic —
// runs nothing: an old removal must never take down the deployment of a
// later attempt.
type Ledger struct {
	path string
	mu   sync.Mutex
	last map[string][2]int
}

// OpenLedger reads the ledger at path (none yet: empty); "" keeps it in
// memory only.
func OpenLedger(path string) (*Ledger, error) {
	l := &Ledger{path: path, last: map[string][2]int{}}
	if path == "" {
		return l, nil
	}
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return l, nil
	case err != nil:
		return nil, fmt.Errorf("agent ledger: %w", err)
	}
	if err := json.Unmarshal(raw, &l.last); err != nil {
		return nil, fmt.Errorf("agent ledger %s is not the agent's: %w", path, err)
	}
	return l, nil
}

// Done reports whether a request of tenant at (attempt, phase), or a later
// one, was carried out already.
func (l *Ledger) Done(tenant string, attempt, phase int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	last, ok := l.last[tenant]
	return ok && (attempt < last[0] || (attempt == last[0] && phase <= last[1]))
}

// Record notes that tenant's request at (attempt, phase) was carried out
// and reported, writing the file atomically.
func (l *Ledger) Record(tenant string, attempt, phase int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.last[tenant]; ok && (attempt < last[0] || (attempt == last[0] && phase <= last[1])) {
		return nil
	}
	l.last[tenant] = [2]int{attempt, phase}
	if l.path == "" {
		return nil
	}
	raw, err := json.Marshal(l.last)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return err
	}
	tmp := l.path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, l.path)
}
