package handlers

import (
	"context"
	"errors"

	"github.com/keyline/keyline/events"
)

// DeletePermissionInput is the input of DeletePermission.
type DeletePermissionInput struct {
	Permission string
}

// DeletePermissionResult is what DeletePermission answers.
type DeletePermissionResult struct{}

// DeletePermission removes a permission. The projections detach it from
// every key and role, and the verify cache of every node drops what it
// cached (permission.* events clear it), so verifications stop granting it.
type DeletePermission struct {
	Log    EventLog
	Reader PermissionReader
}

// NewDeletePermission builds the use case.
func NewDeletePermission(log EventLog, r PermissionReader) *DeletePermission {
	return &DeletePermission{Log: log, Reader: r}
}

// Handle: authz (403) → lookup (404) → append on the slug's stream.
func (h *DeletePermission) Handle(ctx context.Context, p *Principal, in DeletePermissionInput) (DeletePermissionResult, error) {
	ref := in.Permission
	if err := p.RequireAny("rbac.*.delete_permission"); err != nil {
		return DeletePermissionResult{}, err
	}
	row, err := lookupPermission(ctx, h.Reader, p, ref)
	if err != nil {
		return DeletePermissionResult{}, err
	}
	stream := events.PermissionStreamIDFor(p.WorkspaceID, row.Slug)
	meta := metaFor(ctx, p)
	_, err = update(ctx, h.Log, stream, &meta, "permission", func(agg *events.Permission) ([]events.Event, error) {
		var decided []events.Event
		err := events.ErrNotFound
		if agg.ID == row.ID {
			decided, err = agg.Delete(p.WorkspaceID)
		}
		if errors.Is(err, events.ErrNotFound) {
			return nil, Fail(CodePermissionNotFound, permissionNotFoundDetail)
		}
		if err != nil {
			return nil, Internal("deciding permission deletion", err)
		}
		return decided, nil
	})
	return DeletePermissionResult{}, err
}
