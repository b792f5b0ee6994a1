package handlers

import (
	"context"

	"github.com/keyline/keyline/handlers/analyticsql"
)

// GetRatelimitsInput is the input of GetRatelimits.
type GetRatelimitsInput struct {
	Query string
}

// GetRatelimitsResult is what GetRatelimits answers.
type GetRatelimitsResult = []map[string]any

// GetRatelimits runs a caller's SELECT over the rate-limit tables
// (analytics.getRatelimits), confined to the caller's workspace and, with
// per-namespace grants, to those namespaces.
type GetRatelimits struct {
	query analyticsQuery
}

// NewGetRatelimits builds the use case.
func NewGetRatelimits(q AnalyticsQuerier) *GetRatelimits {
	return &GetRatelimits{query: newAnalyticsQuery(q, analyticsql.RatelimitTables)}
}

// Handle checks ratelimit.*.read_analytics or ratelimit.<nsId>.read_analytics,
// then runs the query.
func (h *GetRatelimits) Handle(ctx context.Context, p *Principal, in GetRatelimitsInput) (GetRatelimitsResult, error) {
	sql := in.Query
	scope := analyticsql.Scope{WorkspaceID: p.WorkspaceID}
	if !p.Has("ratelimit.*.read_analytics") {
		namespaces := p.tupleResources("ratelimit", "read_analytics")
		if len(namespaces) == 0 {
			return nil, missing([]string{"ratelimit.*.read_analytics"})
		}
		scope.Restricted, scope.Resources = true, namespaces
	}
	if err := h.query.configured(); err != nil {
		return nil, err
	}
	return h.query.run(ctx, sql, scope)
}
