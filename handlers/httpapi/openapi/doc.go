// Package openapi holds keyline's HTTP contract and enforces it on requests.
//
// keyline is wire-compatible with Unkey's v2 API, so the request-validation
// contract is Unkey's own OpenAPI schema, not rules re-typed by hand: the same
// bodies are rejected, with the same keyword locations and messages
// ("/properties/name/minLength", "minLength: got 2, want 3"), before
// authentication runs, exactly as Unkey does it.
//
// openapi.yaml was cut from Unkey's bundled document by ./gen, keeping only
// the operations keyline serves and the components they reference. It is a
// committed source: building and testing keyline need nothing outside the
// repository. It is embedded and served as-is at GET /openapi.yaml, and its
// second line records the generator command, whose -ops is the one list of
// served operations (a test checks that the file is exactly what that
// command writes).
//
// NewValidator compiles the request-body schema of every operation once, at
// start-up. An older Unkey build recompiled the schema on every request and
// spent 38% of its CPU doing it; per request, keyline only decodes the body
// and walks the precompiled schema.
//
// To serve a new operation, fetch Unkey's bundled OpenAPI document, add the
// operationId to -ops and run make openapi UNKEY_OPENAPI=path/to/document
// OPS=op1,op2,... (see the Makefile).
package openapi
