package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// createPermissionPerms allows creating permission slugs on the fly.
func createPermissionPerms(p *Principal) []string {
	return []string{"rbac.*.create_permission", p.URN("rbac/permissions/*", "create_permission")}
}

// resolveRoles maps role names or IDs to IDs; an unknown one is a 404.
func resolveRoles(ctx context.Context, r KeyReader, workspaceID string, refs []string) ([]string, []projections.RoleRow, error) {
	if len(refs) == 0 {
		return nil, nil, nil
	}
	rows, err := r.RolesByRef(ctx, workspaceID, refs)
	if err != nil {
		return nil, nil, Internal("reading roles", err)
	}
	ids := make([]string, 0, len(refs))
	for _, ref := range refs {
		found := false
		for _, row := range rows {
			if row.Name == ref || row.ID == ref {
				found = true
				if !slices.Contains(ids, row.ID) {
					ids = append(ids, row.ID)
				}
				break
			}
		}
		if !found {
			return nil, nil, Fail(CodeRoleNotFound, "Role '"+ref+"' was not found.")
		}
	}
	return ids, rows, nil
}

// createMissing lets resolvePermissions create unknown slugs.
func createMissing(string) error { return nil }

// mustExist makes an unknown permission a 404.
func mustExist(ref string) error {
	return Fail(CodePermissionNotFound, "Permission '"+ref+"' was not found.")
}

// resolvePermissions maps slugs or IDs to permission IDs. For an unknown one
// it asks onMissing: nil creates it (see ensurePermission), an error fails
// the request.
func resolvePermissions(ctx context.Context, r KeyReader, log EventLog, p *Principal, refs []string, onMissing func(ref string) error) ([]string, error) {
	ids, _, err := resolvePermissionRefs(ctx, r, log, p, refs, onMissing)
	return ids, err
}

// PermissionRefReader finds permissions by slug or ID.
type PermissionRefReader interface {
	PermissionsByRef(ctx context.Context, workspaceID string, refs []string) ([]projections.PermissionRow, error)
}

// resolvePermissionRefs is resolvePermissions that also reports whether it
// had to create any slug.
func resolvePermissionRefs(ctx context.Context, r PermissionRefReader, log EventLog, p *Principal, refs []string,
	onMissing func(ref string) error) (ids []string, created bool, err error) {
	if len(refs) == 0 {
		return nil, false, nil
	}
	rows, err := r.PermissionsByRef(ctx, p.WorkspaceID, refs)
	if err != nil {
		return nil, false, Internal("reading permissions", err)
	}
	ids = make([]string, 0, len(refs))
	for _, ref := range refs {
		id := ""
		for _, row := range rows {
			if row.Slug == ref || row.ID == ref {
				id = row.ID
				break
			}
		}
		if id == "" {
			if err := onMissing(ref); err != nil {
				return nil, false, err
			}
			if id, err = ensurePermission(ctx, log, p, ref); err != nil {
				return nil, false, err
			}
			created = true
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, created, nil
}

// ensurePermission returns the live permission of slug, creating it (name =
// slug) if there is none. Every creator of one slug appends to the slug's
// stream, so concurrent auto-creates converge on one permission.
func ensurePermission(ctx context.Context, log EventLog, p *Principal, slug string) (string, error) {
	return existingOr(createPermission(ctx, log, p, slug, slug, ""))
}

// existsError carries the ID of the live aggregate a create ran into.
type existsError struct{ id string }

func (e *existsError) Error() string { return "already exists: " + e.id }

// existingOr turns a create that ran into a live aggregate into that
// aggregate's ID, for callers that only need one to exist.
func existingOr(id string, err error) (string, error) {
	var exists *existsError
	if errors.As(err, &exists) {
		return exists.id, nil
	}
	return id, err
}

// createPermission decides and appends permission.created on the slug's
// stream; a live permission already holding the slug is an *existsError.
func createPermission(ctx context.Context, log EventLog, p *Principal, slug, name, description string) (string, error) {
	return createUnique(ctx, log, p, events.PermissionStreamIDFor(p.WorkspaceID, slug), "permission",
		func(agg *events.Permission) string { return agg.ID },
		func(agg *events.Permission) ([]events.Event, error) {
			return agg.Create(p.WorkspaceID, slug, name, description)
		})
}

// ensureIdentity returns the identity of externalID, creating it when it
// does not exist yet. Concurrent calls converge on the externalId's stream.
func ensureIdentity(ctx context.Context, r KeyReader, log EventLog, p *Principal, externalID string) (string, error) {
	row, err := r.IdentityByExternalID(ctx, p.WorkspaceID, externalID)
	if err == nil {
		return row.ID, nil
	}
	if !errors.Is(err, events.ErrNotFound) {
		return "", Internal("reading identity", err)
	}
	return existingOr(createIdentity(ctx, log, p, externalID, nil, nil))
}

// createIdentity decides and appends identity.created on the externalId's
// stream; a live identity already holding it is an *existsError.
func createIdentity(ctx context.Context, log EventLog, p *Principal, externalID string, meta json.RawMessage, rls []events.Ratelimit) (string, error) {
	return createUnique(ctx, log, p, events.IdentityStreamIDFor(p.WorkspaceID, externalID), "identity",
		func(agg *events.Identity) string { return agg.ID },
		func(agg *events.Identity) ([]events.Event, error) {
			return agg.Create(p.WorkspaceID, externalID, meta, rls)
		})
}

// uniqueAggregate is an aggregate whose stream is named after a unique key
// of its workspace (a permission's slug, an identity's externalId).
type uniqueAggregate[A any] interface {
	aggregate[A]
	Live(workspaceID string) bool
}

// createUnique runs create on stream through the write loop. Racing creates
// of one key meet on its stream, so they converge on one aggregate: a live
// aggregate already there is an *existsError carrying its ID.
func createUnique[A any, P uniqueAggregate[A]](ctx context.Context, log EventLog, p *Principal, stream, what string,
	id func(P) string, create func(P) ([]events.Event, error)) (string, error) {
	meta := metaFor(ctx, p)
	agg, err := update(ctx, log, stream, &meta, what, func(agg P) ([]events.Event, error) {
		if agg.Live(p.WorkspaceID) {
			return nil, &existsError{id(agg)}
		}
		decided, err := create(agg)
		if err != nil {
			return nil, Internal("deciding "+what+" creation", err)
		}
		return decided, nil
	})
	if err != nil {
		return "", err
	}
	return id(agg), nil
}
