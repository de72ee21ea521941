// Package projections builds the read models that serve queries, fed live
// from the event stream and rebuildable from the log with the same code.
package projections
