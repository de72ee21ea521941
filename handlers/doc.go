// Package handlers is the choreography engine: one Kafka consumer a process
// that hands each record to the handlers triggered by its type — a handler
// per provisioning step (its do, and its undo when compensation reaches
// it), the saga, notify, and domain reconciliation. Each handler folds the
// tenant's log, acts only when it is its turn, and appends exactly one
// outcome; no handler calls another.
//
// The engine names no step. It runs the step.Action the configuration
// gives for each step (package step is the port); the back ends are the
// packages beside this one (idp, database, storage, infrastructure, deploy,
// dns, notify, platform), the operators' tools too (deadletters, faults,
// drift).
package handlers
