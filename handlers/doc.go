// Package handlers holds keyline's use cases: one file per command or query,
// each turning a request into events appended to the log (writes) or into a
// read-model lookup (reads). HTTP lives in the httpapi subpackage, which only
// decodes, authenticates, calls a use case here and encodes.
//
// The use cases declare the small interfaces they need (EventLog, the read
// model Reader) and never import infra; wire.go plugs the implementations in.
// What outlives a request (caches that follow the log, background loops, the
// keyring) lives in handlers/services/*, which the use cases import and which
// never import them.
//
// Every use case has one shape: Handle(ctx, p *Principal, in XInput)
// (XResult, error), the input and result named after the use case. Where a
// result is an existing model (KeyData, PermissionData, ...), XResult is an
// alias of it. Operator commands (SetWorkspaceEnabled, SetAPIIPAllowlist),
// run by the keyline CLI with direct access to the database, have the same
// shape and are called with a nil principal: whoever can run them can open
// the database, so there is nothing to authorize, and they never read p.
// Commands on an existing stream write through update (write.go), the one
// load → decide → append → retry-on-conflict loop.
//
// Errors leave this package as *Error values with a stable Code from the one
// error vocabulary in errors.go.
package handlers
