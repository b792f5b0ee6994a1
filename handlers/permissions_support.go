package handlers

import (
	"context"
	"errors"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// PermissionReader is the read model of permissions and roles.
// projections.Reader implements it.
type PermissionReader interface {
	PermissionRefReader
	PermissionByRef(ctx context.Context, workspaceID, ref string) (projections.PermissionRow, error)
	ListPermissions(ctx context.Context, workspaceID, cursor, search string, limit int) ([]projections.PermissionRow, error)
	RoleByRef(ctx context.Context, workspaceID, ref string) (projections.RoleRow, error)
	ListRoles(ctx context.Context, workspaceID, cursor, search string, limit int) ([]projections.RoleRow, error)
	PermissionsOfRoles(ctx context.Context, roleIDs []string) (map[string][]projections.PermissionRow, error)
}

const (
	permissionNotFoundDetail = "The requested permission does not exist."
	roleNotFoundDetail       = "The requested role does not exist."
)

func permissionData(row projections.PermissionRow) PermissionData {
	return PermissionData{ID: row.ID, Name: row.Name, Slug: row.Slug, Description: row.Description}
}

// rolesData renders roles with their permissions, in one query for all.
func rolesData(ctx context.Context, r PermissionReader, rows []projections.RoleRow) ([]RoleData, error) {
	ids := make([]string, len(rows))
	for i, row := range rows {
		ids[i] = row.ID
	}
	perms, err := r.PermissionsOfRoles(ctx, ids)
	if err != nil {
		return nil, Internal("reading role permissions", err)
	}
	out := make([]RoleData, 0, len(rows))
	for _, row := range rows {
		d := RoleData{ID: row.ID, Name: row.Name, Description: row.Description, Permissions: []PermissionData{}}
		for _, p := range perms[row.ID] {
			d.Permissions = append(d.Permissions, permissionData(p))
		}
		out = append(out, d)
	}
	return out, nil
}

func lookupPermission(ctx context.Context, r PermissionReader, p *Principal, ref string) (projections.PermissionRow, error) {
	row, err := r.PermissionByRef(ctx, p.WorkspaceID, ref)
	if errors.Is(err, events.ErrNotFound) {
		return row, Fail(CodePermissionNotFound, permissionNotFoundDetail)
	}
	if err != nil {
		return row, Internal("reading permission", err)
	}
	return row, nil
}

func lookupRole(ctx context.Context, r PermissionReader, p *Principal, ref string) (projections.RoleRow, error) {
	row, err := r.RoleByRef(ctx, p.WorkspaceID, ref)
	if errors.Is(err, events.ErrNotFound) {
		return row, Fail(CodeRoleNotFound, roleNotFoundDetail)
	}
	if err != nil {
		return row, Internal("reading role", err)
	}
	return row, nil
}

// rolePermissionIDs resolves the slugs (or IDs) for a role. Missing slugs
// are created, but only for a caller that may create permissions; with
// anything missing the check comes before the first creation, so a refused
// request creates nothing.
func rolePermissionIDs(ctx context.Context, r PermissionReader, log EventLog, p *Principal, refs []string) ([]string, error) {
	rows, err := r.PermissionsByRef(ctx, p.WorkspaceID, refs)
	if err != nil {
		return nil, Internal("reading permissions", err)
	}
	for _, ref := range refs {
		found := false
		for _, row := range rows {
			if row.Slug == ref || row.ID == ref {
				found = true
				break
			}
		}
		if !found {
			if err := p.RequireAny(createPermissionPerms(p)...); err != nil {
				return nil, err
			}
			break
		}
	}
	ids, _, err := resolvePermissionRefs(ctx, r, log, p, refs, createMissing)
	return ids, err
}

// appendToRole loads a role name's stream, decides and appends, retrying on
// a concurrent change; ErrNotFound (deleted meanwhile) is the role's 404.
func appendToRole(ctx context.Context, log EventLog, p *Principal, row projections.RoleRow, decide func(*events.Role) ([]events.Event, error)) error {
	meta := metaFor(ctx, p)
	_, err := update(ctx, log, events.RoleStreamIDFor(p.WorkspaceID, row.Name), &meta, "role", func(agg *events.Role) ([]events.Event, error) {
		var evs []events.Event
		err := events.ErrNotFound
		if agg.ID == row.ID {
			evs, err = decide(agg)
		}
		if errors.Is(err, events.ErrNotFound) {
			return nil, Fail(CodeRoleNotFound, roleNotFoundDetail)
		}
		if err != nil {
			return nil, Internal("deciding role change", err)
		}
		return evs, nil
	})
	return err
}

// listLimit applies the default page size of the list endpoints.
func listLimit(limit int) int {
	if limit <= 0 {
		return 100
	}
	return limit
}
