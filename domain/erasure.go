package domain

import "time"

// TypePersonErased records that a person's personal data was erased: the key
// their fields were sealed with (platform/pii) is destroyed, so every sealed
// field of theirs in the log, on the topic and in the projections reads
// "[erased]" from then on. The event names the key only, on stream
// person-<key id>: it carries no personal data itself.
const TypePersonErased = "person.erased"

// PersonErased is an erasure (tenantctl erase).
type PersonErased struct {
	KeyID  string    `json:"keyId"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

func (PersonErased) EventType() string { return TypePersonErased }
