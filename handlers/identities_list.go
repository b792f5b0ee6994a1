package handlers

import "context"

// ListIdentitiesResult is one page of identities.
type ListIdentitiesResult struct {
	Identities []IdentityData
	HasMore    bool
	Cursor     string
}

// ListIdentitiesInput is the input of ListIdentities.
type ListIdentitiesInput struct {
	Cursor string
	Search string
	Limit  int
}

// ListIdentities pages through the workspace's live identities.
type ListIdentities struct{ Reader IdentityReader }

// NewListIdentities builds the use case.
func NewListIdentities(r IdentityReader) *ListIdentities { return &ListIdentities{Reader: r} }

// Handle checks read permission per returned row, as Unkey does: one row
// the caller may not read makes the whole page a 403, and an empty page
// needs no permission at all.
func (h *ListIdentities) Handle(ctx context.Context, p *Principal, in ListIdentitiesInput) (ListIdentitiesResult, error) {
	cursor := in.Cursor
	search := in.Search
	limit := in.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := h.Reader.ListIdentities(ctx, p.WorkspaceID, cursor, search, limit)
	if err != nil {
		return ListIdentitiesResult{}, Internal("listing identities", err)
	}
	page := ListIdentitiesResult{Identities: make([]IdentityData, 0, min(len(rows), limit))}
	if len(rows) > limit {
		page.HasMore, page.Cursor = true, rows[limit].ID
		rows = rows[:limit]
	}
	for _, row := range rows {
		if err := p.RequireAny(identityPerms(p, row.ID, "read_identity")...); err != nil {
			return ListIdentitiesResult{}, err
		}
		page.Identities = append(page.Identities, *identityData(row))
	}
	return page, nil
}
