package handlers

import (
	"context"
	"errors"

	"github.com/keyline/keyline/events"
)

// DeletePortalInput names the portal to delete.
type DeletePortalInput struct {
	PortalID string `json:"portalId"`
}

// DeletePortalResult confirms the deletion.
type DeletePortalResult struct {
	PortalID string `json:"portalId"`
	Deleted  bool   `json:"deleted"`
}

// DeletePortal deletes a portal, which ends all its sessions: the
// operator's command, or the console's with portal.*.delete_portal or
// portal.<id>.delete_portal, like CreatePortal.
type DeletePortal struct{ Log EventLog }

// NewDeletePortal builds the use case.
func NewDeletePortal(log EventLog) *DeletePortal { return &DeletePortal{Log: log} }

// Handle appends portal.deleted; a missing, deleted or foreign portal is
// 404 portal_not_found.
func (h *DeletePortal) Handle(ctx context.Context, p *Principal, in DeletePortalInput) (DeletePortalResult, error) {
	if err := requirePortalAdmin(p, "portal.*.delete_portal", "portal."+in.PortalID+".delete_portal"); err != nil {
		return DeletePortalResult{}, err
	}
	// The console's body is not schema-validated: what cannot be a portal
	// ID is a portal that does not exist.
	if in.PortalID == "" || !consoleCursor.MatchString(in.PortalID) {
		return DeletePortalResult{}, Fail(CodePortalNotFound, portalNotFoundDetail)
	}
	stream := events.PortalStreamID(in.PortalID)
	var portal events.Portal
	if err := fold(ctx, h.Log, stream, portal.Apply); err != nil {
		return DeletePortalResult{}, Internal("loading portal", err)
	}
	decided, err := portal.Delete(p.WorkspaceID)
	if errors.Is(err, events.ErrNotFound) {
		return DeletePortalResult{}, Fail(CodePortalNotFound, portalNotFoundDetail)
	}
	if err != nil {
		return DeletePortalResult{}, Internal("deciding portal deletion", err)
	}
	// A concurrent delete wins the stream version; this one then reports
	// the portal gone, which is what the operator asked for.
	if _, err := h.Log.Append(ctx, stream, portal.Version, metaFor(ctx, p), decided...); errors.Is(err, events.ErrVersionConflict) {
		return DeletePortalResult{}, Fail(CodePortalNotFound, portalNotFoundDetail)
	} else if err != nil {
		return DeletePortalResult{}, Internal("appending portal.deleted", err)
	}
	return DeletePortalResult{PortalID: in.PortalID, Deleted: true}, nil
}
