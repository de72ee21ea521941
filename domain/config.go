package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// A tenant's configuration (the replaced system's tenant configuration,
// permissions 10220–10223): key → JSON value, kept in a stream of its own
// (tenantconfig-<id>) so that configuring a tenant never races its
// provisioning.
const (
	TypeConfigSet     = "tenant.config.set"
	TypeConfigDeleted = "tenant.config.deleted"
)

// ConfigSet records a key's new value (created, or replacing the old one).
type ConfigSet struct {
	TenantID string          `json:"tenantId"`
	Key      string          `json:"key"`
	Value    json.RawMessage `json:"value"`
	Created  bool            `json:"created"`
	At       time.Time       `json:"at"`
}

// ConfigDeleted records that a key was removed.
type ConfigDeleted struct {
	TenantID string    `json:"tenantId"`
	Key      string    `json:"key"`
	At       time.Time `json:"at"`
}

func (ConfigSet) EventType() string     { return TypeConfigSet }
func (ConfigDeleted) EventType() string { return TypeConfigDeleted }

// ConfigEntry is one key's value.
type ConfigEntry struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

// TenantConfig is the folded configuration of one tenant.
type TenantConfig struct {
	entries map[string]ConfigEntry
	version int64
}

// ErrConfigExists refuses to create a key that has a value.
var ErrConfigExists = errors.New("the tenant's configuration has this key already: update it instead")

// MaxConfigValue bounds one value's JSON (bytes).
const MaxConfigValue = 16 << 10

var configKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// RehydrateTenantConfig folds a configuration stream; an empty one is an
// empty configuration (nothing configured yet), not an error.
func RehydrateTenantConfig(history []Event) (*TenantConfig, error) {
	c := &TenantConfig{entries: map[string]ConfigEntry{}}
	for _, e := range history {
		c.apply(e)
	}
	return c, nil
}

func (c *TenantConfig) apply(e Event) {
	switch e := deref(e).(type) {
	case ConfigSet:
		c.entries[e.Key] = ConfigEntry{Key: e.Key, Value: e.Value, UpdatedAt: e.At}
	case ConfigDeleted:
		delete(c.entries, e.Key)
	}
	c.version++
}

// Version is the number of events folded.
func (c *TenantConfig) Version() int64 { return c.version }

// Get returns key's entry.
func (c *TenantConfig) Get(key string) (ConfigEntry, bool) {
	e, ok := c.entries[key]
	return e, ok
}

// Entries lists every entry by key.
func (c *TenantConfig) Entries() []ConfigEntry {
	out := make([]ConfigEntry, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Set gives key its value: create (the key must be new) or update (it must
// exist). The value is any JSON value, compacted, at most MaxConfigValue
// bytes.
func (c *TenantConfig) Set(tenantID, key string, value json.RawMessage, create bool, at time.Time) ([]Event, error) {
	p := problems{}
	if !configKey.MatchString(key) {
		p["key"] = "1 to 100 characters: letters, digits, '.', '_' and '-', starting with a letter or digit"
	}
	var compact bytes.Buffer
	if len(bytes.TrimSpace(value)) == 0 {
		p["value"] = "is required (any JSON value; null is one)"
	} else if err := json.Compact(&compact, value); err != nil {
		p["value"] = "must be JSON"
	} else if compact.Len() > MaxConfigValue {
		p["value"] = "must be at most 16384 bytes of JSON"
	} else if hasNUL(value) {
		p["value"] = `must not contain the character U+0000 (\u0000) in any string or key: the log cannot store it`
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	_, exists := c.entries[key]
	switch {
	case create && exists:
		return nil, ErrConfigExists
	case !create && !exists:
		return nil, ErrNotFound
	}
	e := ConfigSet{TenantID: tenantID, Key: key, Value: json.RawMessage(compact.Bytes()), Created: create, At: at.UTC()}
	c.apply(e)
	return []Event{e}, nil
}

// Delete removes key; ErrNotFound when it has no value.
func (c *TenantConfig) Delete(tenantID, key string, at time.Time) ([]Event, error) {
	if _, ok := c.entries[key]; !ok {
		return nil, ErrNotFound
	}
	e := ConfigDeleted{TenantID: tenantID, Key: key, At: at.UTC()}
	c.apply(e)
	return []Event{e}, nil
}

// hasNUL reports whether a JSON value holds U+0000 in a string or a key:
// PostgreSQL's jsonb, where events are stored, refuses it.
func hasNUL(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case string:
			return strings.ContainsRune(v, 0)
		case []any:
			return slices.ContainsFunc(v, walk)
		case map[string]any:
			for k, e := range v {
				if strings.ContainsRune(k, 0) || walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}
