package handlers

import (
	"context"
	"time"

	"github.com/keyline/keyline/events"
)

// RatelimitCheck and RatelimitDecision are the domain's value types; the
// aliases keep use-case code reading naturally.
type (
	RatelimitCheck    = events.RatelimitCheck
	RatelimitDecision = events.RatelimitDecision
)

// Ratelimiter decides sliding-window rate limits. The ratelimit.* endpoints
// and the key and identity limits of keys.verifyKey share one implementation.
//
// Decide evaluates every check at now and is all-or-nothing: counters are
// consumed only when every check passes. Each decision reports whether its
// own check passed on its own. It is safe for concurrent use; a decision is
// atomic across every node sharing the limiter's backend.
type Ratelimiter interface {
	Decide(ctx context.Context, now time.Time, checks []RatelimitCheck) ([]RatelimitDecision, error)
}
