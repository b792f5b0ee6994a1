package handlers

import (
	"context"
	"time"

	"github.com/keyline/keyline/handlers/services/namespaces"
	"github.com/keyline/keyline/handlers/services/reporting"
)

// RatelimitMultiLimit decides ratelimit.multiLimit: up to 100 checks, all or
// nothing. Each result says whether its own check passed; counters move only
// when every check passed.
type RatelimitMultiLimit struct {
	Catalog *namespaces.Catalog
	// Log receives the namespaces a request creates.
	Log     EventLog
	Limiter Ratelimiter
	Report  *reporting.Reporter
	// Now is the decision clock; tests replace it.
	Now func() time.Time
}

// NewRatelimitMultiLimit builds the use case.
func NewRatelimitMultiLimit(catalog *namespaces.Catalog, log EventLog, limiter Ratelimiter, report *reporting.Reporter) *RatelimitMultiLimit {
	return &RatelimitMultiLimit{Catalog: catalog, Log: log, Limiter: limiter, Report: report, Now: time.Now}
}

// RatelimitMultiLimitInput is the input of RatelimitMultiLimit: the limits
// to decide together, all or nothing.
type RatelimitMultiLimitInput struct {
	Limits []RatelimitLimitInput
}

// RatelimitMultiLimitResult is what RatelimitMultiLimit answers: every
// limit's result in request order, and whether all passed.
type RatelimitMultiLimitResult struct {
	Limits []RatelimitLimitResult
	Passed bool
}

// Handle decides the limits in one batch.
func (h *RatelimitMultiLimit) Handle(ctx context.Context, p *Principal, in RatelimitMultiLimitInput) (RatelimitMultiLimitResult, error) {
	results, passed, err := decideLimits(ctx, h.Catalog, h.Log, h.Limiter, h.Report, h.Now(), p, in.Limits)
	return RatelimitMultiLimitResult{Limits: results, Passed: passed}, err
}
