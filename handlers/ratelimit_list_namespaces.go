package handlers

import (
	"context"

	"github.com/keyline/keyline/projections"
)

// NamespaceLister is the read model ListRatelimitNamespaces pages through.
type NamespaceLister interface {
	ListRatelimitNamespaces(ctx context.Context, workspaceID, cursor string, limit int) ([]projections.RatelimitNamespaceRow, error)
}

// NamespaceSummary is one namespace of a listing.
type NamespaceSummary struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt int64  `json:"createdAt"`
}

// NamespacePage is one page of ListRatelimitNamespaces.
type NamespacePage struct {
	Namespaces []NamespaceSummary
	HasMore    bool
	Cursor     string
}

// ListRatelimitNamespaces lists the workspace's rate-limit namespaces whose
// overrides the root key may read (keyline's own operation, for the
// console; see console_support.go).
type ListRatelimitNamespaces struct{ Reader NamespaceLister }

// NewListRatelimitNamespaces builds the use case.
func NewListRatelimitNamespaces(r NamespaceLister) *ListRatelimitNamespaces {
	return &ListRatelimitNamespaces{Reader: r}
}

// ListRatelimitNamespacesInput is a page request: cursor and limit.
type ListRatelimitNamespacesInput = ListInput

// ListRatelimitNamespacesResult is one page of namespaces.
type ListRatelimitNamespacesResult = NamespacePage

// Handle returns the page from in.Cursor on, leaving out namespaces the
// root key holds no read_override for.
func (h *ListRatelimitNamespaces) Handle(ctx context.Context, p *Principal, in ListRatelimitNamespacesInput) (ListRatelimitNamespacesResult, error) {
	limit, err := in.pageLimit()
	if err != nil {
		return NamespacePage{}, err
	}
	rows, err := h.Reader.ListRatelimitNamespaces(ctx, p.WorkspaceID, in.Cursor, limit)
	if err != nil {
		return NamespacePage{}, Internal("listing ratelimit namespaces", err)
	}
	page := NamespacePage{Namespaces: make([]NamespaceSummary, 0, min(len(rows), limit))}
	if len(rows) > limit {
		page.HasMore, page.Cursor = true, rows[limit].ID
		rows = rows[:limit]
	}
	for _, row := range rows {
		if p.RequireAny("ratelimit.*.read_override", "ratelimit."+row.ID+".read_override") != nil {
			continue
		}
		page.Namespaces = append(page.Namespaces, NamespaceSummary{ID: row.ID, Name: row.Name, CreatedAt: row.CreatedAt})
	}
	return page, nil
}
