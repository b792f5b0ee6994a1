package handlers

import (
	"context"
)

// PortalData is one portal as `keyline portals list` prints it.
type PortalData struct {
	PortalID  string   `json:"portalId"`
	Name      string   `json:"name"`
	APIIDs    []string `json:"apiIds"`
	ReturnURL string   `json:"returnUrl,omitempty"`
	CreatedAt int64    `json:"createdAt"`
	Deleted   bool     `json:"deleted"`
	DeletedAt *int64   `json:"deletedAt,omitempty"`
}

// ListPortalsInput is empty: the principal names the workspace.
type ListPortalsInput struct{}

// ListPortals lists a workspace's portals, deleted ones too, for the
// operator (no permission is checked, as for CreatePortal).
type ListPortals struct{ Reader PortalReader }

// NewListPortals builds the use case.
func NewListPortals(r PortalReader) *ListPortals { return &ListPortals{Reader: r} }

// ListPortalsResult is every portal of the workspace, deleted ones included.
type ListPortalsResult = []PortalData

// Handle returns the portals oldest first.
func (h *ListPortals) Handle(ctx context.Context, p *Principal, _ ListPortalsInput) (ListPortalsResult, error) {
	rows, err := h.Reader.Portals(ctx, p.WorkspaceID)
	if err != nil {
		return nil, Internal("listing portals", err)
	}
	out := make([]PortalData, 0, len(rows))
	for _, r := range rows {
		out = append(out, PortalData{PortalID: r.ID, Name: r.Name, APIIDs: r.APIIDs, ReturnURL: r.ReturnURL,
			CreatedAt: r.CreatedAt, Deleted: r.DeletedAt != nil, DeletedAt: r.DeletedAt})
	}
	return out, nil
}
