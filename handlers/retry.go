package handlers

import "github.com/tenantflow/tenantflow/platform/backoff"

// Retry is how often and how patiently a step retries transient errors: the
// one backoff policy (platform/backoff), which a failing handler follows too.
type Retry = backoff.Policy
