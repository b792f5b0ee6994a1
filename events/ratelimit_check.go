package events

import "time"

// RatelimitCheck is one sliding-window check. Counters are keyed by Key and
// Duration together, so the same key with two durations is two limits.
type RatelimitCheck struct {
	// Key identifies the counter, e.g. "<namespaceId>:<identifier>" for
	// ratelimit.limit or "<configName>:<keyId|identityId>" for verifyKey.
	Key      string
	Limit    int64
	Duration time.Duration
	// Cost is what a passing check consumes; 0 is a pure check.
	Cost int64
}

// RatelimitDecision is the outcome of one check, with Unkey's arithmetic:
// Remaining is what is left after this request (0 on denial), Reset the end
// of the current aligned window in unix milliseconds.
type RatelimitDecision struct {
	Passed    bool
	Limit     int64
	Remaining int64
	Reset     int64
}
