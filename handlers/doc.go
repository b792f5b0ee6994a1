// Package handlers holds keyline's use cases: one file per command or query,
// each turning a request into events appended to the log (writes) or into a
// read-model lookup (reads). HTTP lives in the httpapi subpackage, which only
// decodes, authenticates, calls a use case here and encodes.
//
// The use cases declare the small interfaces they need (EventLog, the read
// model Reader) and never import infra; wire.go plugs the implementations in.
// Errors leave this package as *Error values with a stable Code from the one
// error vocabulary in errors.go.
package handlers
