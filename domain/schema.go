package domain

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Schema versions. An event type's data may change shape only by a new
// schema version, shipped with an upcaster from the previous one, so that
// events stored (and published) at older versions still load. Absent: 1.
var schemaVersions = map[string]int{
	TypeProvisioningFailed:    2,
	TypeProvisioningRequested: 3,
	TypeLeadCreated:           2,
}

// upcasters[type][v] turns data of schema version v into version v+1.
var upcasters = map[string]map[int]func(json.RawMessage) (json.RawMessage, error){
	TypeProvisioningFailed:    {1: provisioningFailedV1},
	TypeProvisioningRequested: {1: provisioningRequestedV1, 2: provisioningRequestedV2},
	TypeLeadCreated:           {1: leadCreatedV1},
}

// leadCreatedV1: in schema 1 a lead's address was one string, the street
// line; schema 2 has ARC's address object, whose "address" it becomes (a
// sealed string stays sealed: it opens the same under the object).
func leadCreatedV1(data json.RawMessage) (json.RawMessage, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	raw, ok := doc["address"]
	if !ok {
		return data, nil
	}
	var line string
	if err := json.Unmarshal(raw, &line); err != nil {
		return nil, fmt.Errorf("address: %w", err)
	}
	if line == "" {
		delete(doc, "address")
	} else {
		doc["address"], _ = json.Marshal(Address{Address: line})
	}
	return json.Marshal(doc)
}

// SchemaVersion is the version of eventType's data this code writes.
func SchemaVersion(eventType string) int {
	if v, ok := schemaVersions[eventType]; ok {
		return v
	}
	return 1
}

// DecodeVersion decodes data stored at schema version version (0 means 1),
// upcasting it to the current version first. Data of a version newer than
// this code knows is ErrUndecodable.
func DecodeVersion(eventType string, version int, data []byte) (Event, error) {
	version = max(version, 1)
	current := SchemaVersion(eventType)
	if version > current {
		return nil, fmt.Errorf("%w: %s schema version %d is newer than this code's %d", ErrUndecodable, eventType, version, current)
	}
	for v := version; v < current; v++ {
		up, ok := upcasters[eventType][v]
		if !ok {
			return nil, fmt.Errorf("%w: no upcaster for %s from schema version %d", ErrUndecodable, eventType, v)
		}
		var err error
		if data, err = up(data); err != nil {
			return nil, fmt.Errorf("%w: upcast %s from version %d: %v", ErrUndecodable, eventType, v, err)
		}
	}
	return Decode(eventType, data)
}

// provisioningFailedV1 renames step/reason (schema 1) to failedStep/error.
func provisioningFailedV1(data json.RawMessage) (json.RawMessage, error) {
	var v1 struct {
		Attempt int    `json:"attempt"`
		Step    string `json:"step"`
		Reason  string `json:"reason"`
	}
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	return json.Marshal(ProvisioningFailed{Attempt: v1.Attempt, FailedStep: v1.Step, Error: v1.Reason})
}

// EventTypes lists every event type this code can write: the fixed ones
// and tenant.<step>.<outcome> for every step (and notify) and outcome.
func EventTypes() []string {
	types := slices.Sorted(maps.Keys(registry))
	for _, s := range AllSteps {
		for _, o := range outcomes {
			types = append(types, OutcomeType(s, o))
		}
	}
	return types
}

// provisioningRequestedV1: in schema 1 the plan's tier was one of the
// isolation models itself; schema 2 lets tiers be the operator's names and
// records the model as isolation.
func provisioningRequestedV1(data json.RawMessage) (json.RawMessage, error) {
	var v1 ProvisioningRequested
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	v1.Isolation = v1.Subscription.Plan.Tier
	return json.Marshal(v1)
}

// provisioningRequestedV2: schema 3 records the identity model the tier
// mapped to; every tenant requested before identity models existed has a
// realm of its own, and keeps it (nothing moves unless an operator asks).
func provisioningRequestedV2(data json.RawMessage) (json.RawMessage, error) {
	var v2 ProvisioningRequested
	if err := json.Unmarshal(data, &v2); err != nil {
		return nil, err
	}
	v2.Identity = IdentityRealm
	return json.Marshal(v2)
}
