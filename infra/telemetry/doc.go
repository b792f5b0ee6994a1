// Package telemetry builds the process logger (text or JSON, a level, the
// trace ID of the current span on every record logged with a context) and
// the OpenTelemetry tracer provider that exports spans over OTLP/HTTP.
//
// Tracing is off unless tracing.endpoint is set. Off means nothing is
// installed: no provider, no hooks, no span middleware, so the hot paths
// pay nothing. Components decide once at construction time whether to
// instrument themselves (configs.Tracing.Enabled) and then use the global
// provider Setup installed.
package telemetry
