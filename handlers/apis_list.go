package handlers

import (
	"context"

	"github.com/keyline/keyline/projections"
)

// APILister is the read model ListAPIs pages through.
type APILister interface {
	ListAPIs(ctx context.Context, workspaceID, cursor string, limit int) ([]projections.APIRow, error)
}

// APISummary is one API of a listing.
// KeySpaceID is what the analytics tables call the API
// (key_verifications_*.key_space_id): the console's chart filters on it.
type APISummary struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	KeySpaceID string `json:"keySpaceId"`
	CreatedAt  int64  `json:"createdAt"`
}

// APIPage is one page of ListAPIs.
type APIPage struct {
	APIs    []APISummary
	HasMore bool
	Cursor  string
}

// ListAPIs lists the workspace's APIs the root key may read (keyline's own
// operation, for the console; see console_support.go).
type ListAPIs struct{ Reader APILister }

// NewListAPIs builds the use case.
func NewListAPIs(r APILister) *ListAPIs { return &ListAPIs{Reader: r} }

// ListAPIsInput is a page request: cursor and limit.
type ListAPIsInput = ListInput

// ListAPIsResult is one page of APIs.
type ListAPIsResult = APIPage

// Handle returns the page from in.Cursor on (inclusive, so Cursor = an
// API's ID with Limit 1 reads that one API). A page may hold fewer than
// in.Limit APIs when some are not readable; HasMore still says whether
// more rows follow.
func (h *ListAPIs) Handle(ctx context.Context, p *Principal, in ListAPIsInput) (ListAPIsResult, error) {
	limit, err := in.pageLimit()
	if err != nil {
		return APIPage{}, err
	}
	rows, err := h.Reader.ListAPIs(ctx, p.WorkspaceID, in.Cursor, limit)
	if err != nil {
		return APIPage{}, Internal("listing apis", err)
	}
	page := APIPage{APIs: make([]APISummary, 0, min(len(rows), limit))}
	if len(rows) > limit {
		page.HasMore, page.Cursor = true, rows[limit].ID
		rows = rows[:limit]
	}
	for _, row := range rows {
		if p.RequireAny(keySpacePerms(p, row.ID, row.KeySpaceID, "read_api")...) != nil {
			continue
		}
		page.APIs = append(page.APIs, APISummary{ID: row.ID, Name: row.Name, KeySpaceID: row.KeySpaceID, CreatedAt: row.CreatedAt})
	}
	return page, nil
}
