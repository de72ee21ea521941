// Package handlers is the choreography engine: one consumer a process that
// hands each record to the handlers its type triggers — one per step of
// domain.Flow (its do, and its undo when compensation reaches it), the saga,
// notify and the domains' reconciler. Each folds the tenant's log, acts only
// on its turn and appends one outcome; none calls another. The engine names
// no step: it runs the step.Action given for each (step.Runner runs them);
// the back ends are the packages beside this one.
package handlers
