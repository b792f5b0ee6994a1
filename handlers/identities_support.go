package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// IdentityReader is the read model of identities. projections.Reader
// implements it.
type IdentityReader interface {
	IdentityByRef(ctx context.Context, workspaceID, ref string) (projections.IdentityRow, error)
	ListIdentities(ctx context.Context, workspaceID, cursor, search string, limit int) ([]projections.IdentityRow, error)
}

const identityNotFoundDetail = "This identity does not exist."

// maxMetaBytes caps an identity's marshalled metadata at 1 MB, as Unkey does.
const maxMetaBytes = 1 << 20

// identityPerms lists the grants that allow action on identities: the
// wildcard tuple, the per-identity tuple when an ID is known, and the
// resource permission. keyline has no projects, so the URN leg is Unkey's
// "any project, any identity" path.
func identityPerms(p *Principal, identityID, action string) []string {
	perms := []string{"identity.*." + action}
	if identityID != "" {
		perms = append(perms, "identity."+identityID+"."+action)
	}
	return append(perms, p.URN("projects/*/identities/*", action))
}

// checkIdentityInput applies the rules the schema cannot express: the
// metadata size and unique rate-limit names.
func checkIdentityInput(meta json.RawMessage, rls []RatelimitInput) error {
	if len(meta) > 0 {
		compact, err := json.Marshal(meta)
		if err == nil && len(compact) > maxMetaBytes {
			return Fail(CodeInvalidInput, fmt.Sprintf("Metadata is too large: %d bytes exceeds the maximum of %d bytes.", len(compact), maxMetaBytes))
		}
	}
	seen := map[string]bool{}
	for _, rl := range rls {
		if seen[rl.Name] {
			return Fail(CodeInvalidInput, fmt.Sprintf("Ratelimit with name '%s' is already defined in the request.", rl.Name))
		}
		seen[rl.Name] = true
	}
	return nil
}

// lookupIdentity resolves an ID or externalId in p's workspace (404).
func lookupIdentity(ctx context.Context, r IdentityReader, p *Principal, ref string) (projections.IdentityRow, error) {
	row, err := r.IdentityByRef(ctx, p.WorkspaceID, ref)
	if errors.Is(err, events.ErrNotFound) {
		return row, Fail(CodeIdentityNotFound, identityNotFoundDetail)
	}
	if err != nil {
		return row, Internal("reading identity", err)
	}
	return row, nil
}

// appendToIdentity loads the identity's externalId stream, decides and
// appends, retrying on a concurrent change. A decision of ErrNotFound (the
// identity was deleted meanwhile) is the 404.
func appendToIdentity(ctx context.Context, log EventLog, p *Principal, externalID string, decide func(*events.Identity) ([]events.Event, error)) (*events.Identity, error) {
	meta := metaFor(ctx, p)
	return update(ctx, log, events.IdentityStreamIDFor(p.WorkspaceID, externalID), &meta, "identity", func(agg *events.Identity) ([]events.Event, error) {
		evs, err := decide(agg)
		if errors.Is(err, events.ErrNotFound) {
			return nil, Fail(CodeIdentityNotFound, identityNotFoundDetail)
		}
		return evs, err
	})
}
