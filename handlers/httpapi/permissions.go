package httpapi

import (
	"context"

	"github.com/keyline/keyline/handlers"
)

func (rt *Routes) createPermission(ctx context.Context, p *handlers.Principal, in struct {
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	Description string `json:"description"`
}) (any, error) {
	id, err := rt.CreatePermission.Handle(ctx, p, in.Slug, in.Name, in.Description)
	return map[string]string{"permissionId": id}, err
}

type permissionBody struct {
	Permission string `json:"permission"`
}

func (rt *Routes) getPermission(ctx context.Context, p *handlers.Principal, in permissionBody) (any, error) {
	return rt.GetPermission.Handle(ctx, p, in.Permission)
}

func (rt *Routes) listPermissions(ctx context.Context, p *handlers.Principal, in listBody) (any, error) {
	res, err := rt.ListPermissions.Handle(ctx, p, in.Cursor, in.Search, in.Limit)
	return page{Data: res.Permissions, HasMore: res.HasMore, Cursor: res.Cursor}, err
}

func (rt *Routes) deletePermission(ctx context.Context, p *handlers.Principal, in permissionBody) (any, error) {
	return empty{}, rt.DeletePermission.Handle(ctx, p, in.Permission)
}

func (rt *Routes) createRole(ctx context.Context, p *handlers.Principal, in struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
}) (any, error) {
	id, err := rt.CreateRole.Handle(ctx, p, in.Name, in.Description, in.Permissions)
	return map[string]string{"roleId": id}, err
}

type roleBody struct {
	Role string `json:"role"`
}

func (rt *Routes) getRole(ctx context.Context, p *handlers.Principal, in roleBody) (any, error) {
	return rt.GetRole.Handle(ctx, p, in.Role)
}

func (rt *Routes) listRoles(ctx context.Context, p *handlers.Principal, in listBody) (any, error) {
	res, err := rt.ListRoles.Handle(ctx, p, in.Cursor, in.Search, in.Limit)
	return page{Data: res.Roles, HasMore: res.HasMore, Cursor: res.Cursor}, err
}

func (rt *Routes) deleteRole(ctx context.Context, p *handlers.Principal, in roleBody) (any, error) {
	return empty{}, rt.DeleteRole.Handle(ctx, p, in.Role)
}

func (rt *Routes) setRolePermissions(ctx context.Context, p *handlers.Principal, in struct {
	RoleID      string   `json:"roleId"`
	Permissions []string `json:"permissions"`
}) (any, error) {
	return rt.SetRolePermissions.Handle(ctx, p, in.RoleID, in.Permissions)
}
