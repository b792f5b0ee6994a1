// Package httpapi is keyline's HTTP port: Unkey v2 routes on bunrouter.
//
// A request passes, in order: panic recovery, request ID, error rendering,
// body limit and schema validation (before authentication, as in Unkey, so a
// malformed body is a 400 whatever the token), then the route. Routes only
// decode, authenticate, call one use case from package handlers and encode;
// every failure is returned as an error and rendered by errors.go, the one
// place where the error vocabulary becomes HTTP.
package httpapi
