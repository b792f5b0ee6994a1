package handlers

import (
	"context"

	"github.com/keyline/keyline/handlers/analyticsql"
)

// GetVerificationsInput is the input of GetVerifications.
type GetVerificationsInput struct {
	Query string
}

// GetVerificationsResult is what GetVerifications answers.
type GetVerificationsResult = []map[string]any

// GetVerifications runs a caller's SELECT over the key-verification tables
// (analytics.getVerifications). The caller sees its own workspace only, and
// with per-API grants only those APIs' key spaces: the rewriter puts both
// filters inside every table reference, so no query shape can get around
// them.
type GetVerifications struct {
	APIs  APIReader
	query analyticsQuery
}

// NewGetVerifications builds the use case.
func NewGetVerifications(q AnalyticsQuerier, apis APIReader) *GetVerifications {
	return &GetVerifications{APIs: apis, query: newAnalyticsQuery(q, analyticsql.VerificationTables)}
}

// Handle checks the permission (api.*.read_analytics, or
// api.<apiId>.read_analytics for some APIs), then runs the query.
func (h *GetVerifications) Handle(ctx context.Context, p *Principal, in GetVerificationsInput) (GetVerificationsResult, error) {
	sql := in.Query
	scope := analyticsql.Scope{WorkspaceID: p.WorkspaceID}
	if !p.Has("api.*.read_analytics") {
		apiIDs := p.tupleResources("api", "read_analytics")
		if len(apiIDs) == 0 {
			return nil, missing([]string{"api.*.read_analytics"})
		}
		scope.Restricted = true
		scope.Resources = []string{}
		for _, id := range apiIDs {
			api, err := h.APIs.API(ctx, p.WorkspaceID, id)
			if isNotFound(err) {
				continue // a grant for an API that is gone (or elsewhere) shows nothing
			}
			if err != nil {
				return nil, Internal("reading an api for its key space", err)
			}
			scope.Resources = append(scope.Resources, api.KeySpaceID)
		}
	}
	if err := h.query.configured(); err != nil {
		return nil, err
	}
	return h.query.run(ctx, sql, scope)
}
