package handlers

import (
	"context"
	"time"
)

// RatelimitMultiLimit decides ratelimit.multiLimit: up to 100 checks, all or
// nothing. Each result says whether its own check passed; counters move only
// when every check passed.
type RatelimitMultiLimit struct {
	Catalog *RatelimitCatalog
	Limiter RateLimiter
	Report  *Reporter
	// Now is the decision clock; tests replace it.
	Now func() time.Time
}

// NewRatelimitMultiLimit builds the use case.
func NewRatelimitMultiLimit(catalog *RatelimitCatalog, limiter RateLimiter, report *Reporter) *RatelimitMultiLimit {
	return &RatelimitMultiLimit{Catalog: catalog, Limiter: limiter, Report: report, Now: time.Now}
}

// Handle returns the results in request order and whether all passed.
func (h *RatelimitMultiLimit) Handle(ctx context.Context, p *Principal, reqs []RatelimitRequest) ([]RatelimitResult, bool, error) {
	return decideLimits(ctx, h.Catalog, h.Limiter, h.Report, h.Now(), p, reqs)
}
