package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
)

// DefaultOverridePageSize is the page size of ratelimit.listOverrides when
// the client sends none: 50, as Unkey's handler does, although its spec
// says 10.
const DefaultOverridePageSize = 50

// OverridePage is one page of overrides.
type OverridePage struct {
	Overrides []events.OverrideRule
	HasMore   bool
	// Cursor is the ID of the first override of the next page.
	Cursor string
}

// ListRatelimitOverrides pages through a namespace's live overrides in ID
// order.
type ListRatelimitOverrides struct{ Reader RatelimitReader }

// NewListRatelimitOverrides builds the use case.
func NewListRatelimitOverrides(r RatelimitReader) *ListRatelimitOverrides {
	return &ListRatelimitOverrides{Reader: r}
}

// Handle returns the page starting at cursor: namespace 404, then 403.
func (h *ListRatelimitOverrides) Handle(ctx context.Context, p *Principal, namespace, cursor string, limit int) (OverridePage, error) {
	ns, err := namespaceForOverrides(ctx, h.Reader, p.WorkspaceID, namespace)
	if err != nil {
		return OverridePage{}, err
	}
	if err := p.RequireAny("ratelimit.*.read_override", "ratelimit."+ns.ID+".read_override"); err != nil {
		return OverridePage{}, err
	}
	if limit <= 0 {
		limit = DefaultOverridePageSize
	}
	rows, err := h.Reader.ListRatelimitOverrides(ctx, ns.ID, cursor, limit+1)
	if err != nil {
		return OverridePage{}, Internal("listing ratelimit overrides", err)
	}
	page := OverridePage{Overrides: make([]events.OverrideRule, 0, min(len(rows), limit))}
	if len(rows) > limit {
		page.HasMore, page.Cursor = true, rows[limit].ID
		rows = rows[:limit]
	}
	for _, r := range rows {
		page.Overrides = append(page.Overrides, events.OverrideRule{ID: r.ID, Identifier: r.Identifier, Limit: r.Limit, DurationMs: r.DurationMs})
	}
	return page, nil
}
