package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
)

// DefaultOverridePageSize is the page size of ratelimit.listOverrides when
// the client sends none: 50, as Unkey's handler does, although its spec
// says 10.
const DefaultOverridePageSize = 50

// ListRatelimitOverridesResult is one page of overrides.
type ListRatelimitOverridesResult struct {
	Overrides []events.OverrideRule
	HasMore   bool
	// Cursor is the ID of the first override of the next page.
	Cursor string
}

// ListRatelimitOverridesInput is the input of ListRatelimitOverrides.
type ListRatelimitOverridesInput struct {
	Namespace string
	Cursor    string
	Limit     int
}

// ListRatelimitOverrides pages through a namespace's live overrides in ID
// order.
type ListRatelimitOverrides struct{ Reader RatelimitReader }

// NewListRatelimitOverrides builds the use case.
func NewListRatelimitOverrides(r RatelimitReader) *ListRatelimitOverrides {
	return &ListRatelimitOverrides{Reader: r}
}

// Handle returns the page starting at cursor: namespace 404, then 403.
func (h *ListRatelimitOverrides) Handle(ctx context.Context, p *Principal, in ListRatelimitOverridesInput) (ListRatelimitOverridesResult, error) {
	namespace := in.Namespace
	cursor := in.Cursor
	limit := in.Limit
	ns, err := namespaceForOverrides(ctx, h.Reader, p.WorkspaceID, namespace)
	if err != nil {
		return ListRatelimitOverridesResult{}, err
	}
	if err := p.RequireAny("ratelimit.*.read_override", "ratelimit."+ns.ID+".read_override"); err != nil {
		return ListRatelimitOverridesResult{}, err
	}
	if limit <= 0 {
		limit = DefaultOverridePageSize
	}
	rows, err := h.Reader.ListRatelimitOverrides(ctx, ns.ID, cursor, limit+1)
	if err != nil {
		return ListRatelimitOverridesResult{}, Internal("listing ratelimit overrides", err)
	}
	page := ListRatelimitOverridesResult{Overrides: make([]events.OverrideRule, 0, min(len(rows), limit))}
	if len(rows) > limit {
		page.HasMore, page.Cursor = true, rows[limit].ID
		rows = rows[:limit]
	}
	for _, r := range rows {
		page.Overrides = append(page.Overrides, events.OverrideRule{ID: r.ID, Identifier: r.Identifier, Limit: r.Limit, DurationMs: r.DurationMs})
	}
	return page, nil
}
