package handlers

import (
	"context"
	"errors"
)

// CreatePermission defines a permission slug.
type CreatePermission struct{ Log EventLog }

// NewCreatePermission builds the use case.
func NewCreatePermission(log EventLog) *CreatePermission { return &CreatePermission{Log: log} }

// Handle: authz (403) → the slug's stream decides uniqueness (409).
func (h *CreatePermission) Handle(ctx context.Context, p *Principal, slug, name, description string) (string, error) {
	if err := p.RequireAny("rbac.*.create_permission"); err != nil {
		return "", err
	}
	id, err := createPermission(ctx, h.Log, p, slug, name, description)
	var exists *existsError
	if errors.As(err, &exists) {
		return "", Fail(CodePermissionAlreadyExists, "A permission with slug '"+slug+"' already exists in this workspace.")
	}
	return id, err
}
