package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/projections"
)

// PortalAdmin is `keyline portals`: the operator's commands on the portals
// of one workspace, named by its name as everywhere on the command line.
type PortalAdmin struct {
	Reader *projections.Reader
	Create *handlers.CreatePortal
	List   *handlers.ListPortals
	Delete *handlers.DeletePortal
}

// NewPortalAdmin is the provider wire calls.
func NewPortalAdmin(r *projections.Reader, c *handlers.CreatePortal, l *handlers.ListPortals, d *handlers.DeletePortal) *PortalAdmin {
	return &PortalAdmin{Reader: r, Create: c, List: l, Delete: d}
}

// principal acts in the existing workspace called name, with no root key:
// the command line holds the store itself.
func (a *PortalAdmin) principal(ctx context.Context, name string) (*handlers.Principal, error) {
	id := events.WorkspaceIDForName(name)
	if _, err := a.Reader.Workspace(ctx, id); errors.Is(err, events.ErrNotFound) {
		return nil, fmt.Errorf("no workspace named %q", name)
	} else if err != nil {
		return nil, err
	}
	return handlers.NewPrincipal(id, "", nil), nil
}

// CreatePortal opens a portal in the workspace.
func (a *PortalAdmin) CreatePortal(ctx context.Context, workspace string, in handlers.CreatePortalInput) (handlers.CreatePortalResult, error) {
	p, err := a.principal(ctx, workspace)
	if err != nil {
		return handlers.CreatePortalResult{}, err
	}
	return a.Create.Handle(ctx, p, in)
}

// ListPortals lists the workspace's portals.
func (a *PortalAdmin) ListPortals(ctx context.Context, workspace string) ([]handlers.PortalData, error) {
	p, err := a.principal(ctx, workspace)
	if err != nil {
		return nil, err
	}
	return a.List.Handle(ctx, p, handlers.ListPortalsInput{})
}

// DeletePortal deletes one of the workspace's portals.
func (a *PortalAdmin) DeletePortal(ctx context.Context, workspace, portalID string) (handlers.DeletePortalResult, error) {
	p, err := a.principal(ctx, workspace)
	if err != nil {
		return handlers.DeletePortalResult{}, err
	}
	return a.Delete.Handle(ctx, p, handlers.DeletePortalInput{PortalID: portalID})
}
