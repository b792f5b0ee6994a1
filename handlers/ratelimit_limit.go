package handlers

import (
	"context"
	"time"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/namespaces"
	"github.com/keyline/keyline/handlers/services/reporting"
)

// RatelimitLimitInput is one limit check as a client sends it.
type RatelimitLimitInput struct {
	// Namespace is the namespace's name or ID, as sent.
	Namespace  string
	Identifier string
	Limit      int64
	DurationMs int64
	Cost       int64
}

// RatelimitLimitResult is the outcome of one check.
type RatelimitLimitResult struct {
	Namespace  string
	Identifier string
	Passed     bool
	Limit      int64
	Remaining  int64
	Reset      int64
	// OverrideID names the override that supplied limit and duration, if any.
	OverrideID string
}

// RatelimitLimit decides ratelimit.limit. Namespaces and overrides come from
// the node-local catalog and counters from the limiter, so the hot path does
// not touch the database once a namespace is cached.
type RatelimitLimit struct {
	Catalog *namespaces.Catalog
	// Log receives the namespaces a request creates.
	Log     EventLog
	Limiter Ratelimiter
	Report  *reporting.Reporter
	// Now is the decision clock; tests replace it.
	Now func() time.Time
}

// NewRatelimitLimit builds the use case.
func NewRatelimitLimit(catalog *namespaces.Catalog, log EventLog, limiter Ratelimiter, report *reporting.Reporter) *RatelimitLimit {
	return &RatelimitLimit{Catalog: catalog, Log: log, Limiter: limiter, Report: report, Now: time.Now}
}

// Handle decides one check. A denial is a result, not an error: the HTTP
// answer is 200 either way.
func (h *RatelimitLimit) Handle(ctx context.Context, p *Principal, in RatelimitLimitInput) (RatelimitLimitResult, error) {
	req := in
	out, _, err := decideLimits(ctx, h.Catalog, h.Log, h.Limiter, h.Report, h.Now(), p, []RatelimitLimitInput{req})
	if err != nil {
		return RatelimitLimitResult{}, err
	}
	return out[0], nil
}

// decideLimits is shared by limit and multiLimit: resolve namespaces (with
// auto-creation and permissions), apply overrides, decide all checks as one
// all-or-nothing batch.
func decideLimits(ctx context.Context, catalog *namespaces.Catalog, log EventLog, limiter Ratelimiter, report *reporting.Reporter, now time.Time,
	p *Principal, reqs []RatelimitLimitInput) ([]RatelimitLimitResult, bool, error) {
	started := time.Now()
	// One check, the common request, keeps these on the stack.
	var refsBuf [4]string
	var foundBuf [4]*namespaces.Namespace
	refs, found := refsBuf[:0], foundBuf[:0]
	for _, r := range reqs {
		refs, found = append(refs, r.Namespace), append(found, nil)
	}
	if err := namespacesForLimit(ctx, catalog, log, p, refs, found); err != nil {
		return nil, false, err
	}
	checks := make([]RatelimitCheck, len(reqs))
	results := make([]RatelimitLimitResult, len(reqs))
	for i, r := range reqs {
		ns := found[i]
		limit, duration := r.Limit, r.DurationMs
		if o, ok := ns.Overrides.Match(r.Identifier); ok {
			limit, duration = o.Limit, o.DurationMs
			results[i].OverrideID = o.ID
		}
		// Counters are per namespace ID, identifier and duration (the
		// limiter keys by duration), as in Unkey.
		checks[i] = RatelimitCheck{Key: ns.ID + ":" + r.Identifier, Limit: limit,
			Duration: events.DurationFromMs(duration), Cost: r.Cost}
		results[i].Namespace, results[i].Identifier = r.Namespace, r.Identifier
	}
	decisions, err := limiter.Decide(ctx, now, checks)
	if err != nil {
		return nil, false, Internal("deciding rate limits", err)
	}
	all := true
	for i, d := range decisions {
		results[i].Passed, results[i].Limit, results[i].Remaining, results[i].Reset = d.Passed, d.Limit, d.Remaining, d.Reset
		all = all && d.Passed
	}
	for i, r := range reqs {
		report.RatelimitDecided(RequestID(ctx), started, p.WorkspaceID, events.RatelimitDecided{
			NamespaceID: found[i].ID, Identifier: r.Identifier, Passed: all && decisions[i].Passed,
			Limit: decisions[i].Limit, Remaining: decisions[i].Remaining, Cost: r.Cost})
	}
	return results, all, nil
}
