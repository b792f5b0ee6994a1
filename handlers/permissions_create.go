package handlers

import (
	"context"
	"errors"
)

// CreatePermissionInput is the input of CreatePermission.
type CreatePermissionInput struct {
	Slug        string
	Name        string
	Description string
}

// CreatePermissionResult is what CreatePermission answers.
type CreatePermissionResult struct{ PermissionID string }

// CreatePermission defines a permission slug.
type CreatePermission struct{ Log EventLog }

// NewCreatePermission builds the use case.
func NewCreatePermission(log EventLog) *CreatePermission { return &CreatePermission{Log: log} }

// Handle: authz (403) → the slug's stream decides uniqueness (409).
func (h *CreatePermission) Handle(ctx context.Context, p *Principal, in CreatePermissionInput) (CreatePermissionResult, error) {
	slug := in.Slug
	name := in.Name
	description := in.Description
	if err := p.RequireAny("rbac.*.create_permission"); err != nil {
		return CreatePermissionResult{}, err
	}
	id, err := createPermission(ctx, h.Log, p, slug, name, description)
	var exists *existsError
	if errors.As(err, &exists) {
		return CreatePermissionResult{}, Fail(CodePermissionAlreadyExists, "A permission with slug '"+slug+"' already exists in this workspace.")
	}
	return CreatePermissionResult{PermissionID: id}, err
}
