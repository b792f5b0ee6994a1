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

// portalReadAll lets a root key list every portal of its workspace.
const portalReadAll = "portal.*.read_portal"

// ListPortalsInput: the principal names the workspace; LiveOnly leaves
// the deleted portals out.
type ListPortalsInput struct{ LiveOnly bool }

// ListPortals lists a workspace's portals, deleted ones too: for the
// operator (`keyline portals list`, no permission checked) and for the
// console (keyline.listPortals), which sees the portals its root key may
// read.
type ListPortals struct{ Reader PortalReader }

// NewListPortals builds the use case.
func NewListPortals(r PortalReader) *ListPortals { return &ListPortals{Reader: r} }

// ListPortalsResult is the portals of the workspace, oldest first.
type ListPortalsResult = []PortalData

// Handle returns the portals oldest first. A root key sees the portals
// it holds portal.*.read_portal or portal.<id>.read_portal for, and one
// holding neither for any portal is refused (403), as a listing it could
// never see anything in.
func (h *ListPortals) Handle(ctx context.Context, p *Principal, in ListPortalsInput) (ListPortalsResult, error) {
	all := portalOperator(p) || p.Has(portalReadAll)
	if !all && len(p.tupleResources("portal", "read_portal")) == 0 {
		return nil, missing([]string{portalReadAll})
	}
	rows, err := h.Reader.Portals(ctx, p.WorkspaceID)
	if err != nil {
		return nil, Internal("listing portals", err)
	}
	out := make([]PortalData, 0, len(rows))
	for _, r := range rows {
		if (in.LiveOnly && r.DeletedAt != nil) || (!all && !p.Has("portal."+r.ID+".read_portal")) {
			continue
		}
		out = append(out, PortalData{PortalID: r.ID, Name: r.Name, APIIDs: r.APIIDs, ReturnURL: r.ReturnURL,
			CreatedAt: r.CreatedAt, Deleted: r.DeletedAt != nil, DeletedAt: r.DeletedAt})
	}
	return out, nil
}
