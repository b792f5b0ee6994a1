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
	res, err := rt.CreatePermission.Handle(ctx, p, handlers.CreatePermissionInput{Slug: in.Slug, Name: in.Name, Description: in.Description})
	return map[string]string{"permissionId": res.PermissionID}, err
}

type permissionBody struct {
	Permission string `json:"permission"`
}

func (rt *Routes) getPermission(ctx context.Context, p *handlers.Principal, in permissionBody) (any, error) {
	return rt.GetPermission.Handle(ctx, p, handlers.GetPermissionInput{Permission: in.Permission})
}

func (rt *Routes) listPermissions(ctx context.Context, p *handlers.Principal, in listBody) (any, error) {
	res, err := rt.ListPermissions.Handle(ctx, p, handlers.ListPermissionsInput{Cursor: in.Cursor, Search: in.Search, Limit: in.Limit})
	return page{Data: res.Permissions, HasMore: res.HasMore, Cursor: res.Cursor}, err
}

func (rt *Routes) deletePermission(ctx context.Context, p *handlers.Principal, in permissionBody) (any, error) {
	_, err := rt.DeletePermission.Handle(ctx, p, handlers.DeletePermissionInput{Permission: in.Permission})
	return empty{}, err
}

func (rt *Routes) createRole(ctx context.Context, p *handlers.Principal, in struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
}) (any, error) {
	res, err := rt.CreateRole.Handle(ctx, p, handlers.CreateRoleInput{Name: in.Name, Description: in.Description, Permissions: in.Permissions})
	return map[string]string{"roleId": res.RoleID}, err
}

type roleBody struct {
	Role string `json:"role"`
}

func (rt *Routes) getRole(ctx context.Context, p *handlers.Principal, in roleBody) (any, error) {
	return rt.GetRole.Handle(ctx, p, handlers.GetRoleInput{Role: in.Role})
}

func (rt *Routes) listRoles(ctx context.Context, p *handlers.Principal, in listBody) (any, error) {
	res, err := rt.ListRoles.Handle(ctx, p, handlers.ListRolesInput{Cursor: in.Cursor, Search: in.Search, Limit: in.Limit})
	return page{Data: res.Roles, HasMore: res.HasMore, Cursor: res.Cursor}, err
}

func (rt *Routes) deleteRole(ctx context.Context, p *handlers.Principal, in roleBody) (any, error) {
	_, err := rt.DeleteRole.Handle(ctx, p, handlers.DeleteRoleInput{Role: in.Role})
	return empty{}, err
}

func (rt *Routes) setRolePermissions(ctx context.Context, p *handlers.Principal, in struct {
	RoleID      string   `json:"roleId"`
	Permissions []string `json:"permissions"`
}) (any, error) {
	return rt.SetRolePermissions.Handle(ctx, p, handlers.SetRolePermissionsInput{RoleID: in.RoleID, Permissions: in.Permissions})
}
