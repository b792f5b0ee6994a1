package handlers

import (
	"context"
	"encoding/json"

	"github.com/keyline/keyline/events"
)

// UpdateIdentityInput is the input of UpdateIdentity.
type UpdateIdentityInput struct {
	Identity   string
	Meta       json.RawMessage
	Ratelimits *[]RatelimitInput
}

// UpdateIdentityResult is what UpdateIdentity answers.
type UpdateIdentityResult = IdentityData

// UpdateIdentity replaces an identity's metadata and/or rate limits.
type UpdateIdentity struct {
	Log    EventLog
	Reader IdentityReader
}

// NewUpdateIdentity builds the use case.
func NewUpdateIdentity(log EventLog, r IdentityReader) *UpdateIdentity {
	return &UpdateIdentity{Log: log, Reader: r}
}

// Handle: authz (403) → input rules (400) → lookup (404) → one append.
// Meta, when sent, replaces the metadata ({} clears it); ratelimits, when
// sent, replace the set: configs keep their ID by name, missing ones go.
func (h *UpdateIdentity) Handle(ctx context.Context, p *Principal, in UpdateIdentityInput) (UpdateIdentityResult, error) {
	ref := in.Identity
	meta := in.Meta
	rls := in.Ratelimits
	if err := p.RequireAny(identityPerms(p, "", "update_identity")...); err != nil {
		return UpdateIdentityResult{}, err
	}
	var list []RatelimitInput
	if rls != nil {
		list = *rls
	}
	if err := checkIdentityInput(meta, list); err != nil {
		return UpdateIdentityResult{}, err
	}
	row, err := lookupIdentity(ctx, h.Reader, p, ref)
	if err != nil {
		return UpdateIdentityResult{}, err
	}
	agg, err := appendToIdentity(ctx, h.Log, p, row.ExternalID, func(i *events.Identity) ([]events.Event, error) {
		if i.ID != row.ID {
			return nil, events.ErrNotFound // deleted and re-created meanwhile
		}
		u := events.IdentityUpdated{}
		if meta != nil {
			m := meta
			u.Meta = &events.Change[json.RawMessage]{Value: &m}
		}
		if rls != nil {
			next := newRatelimits(list, i.Ratelimits)
			u.Ratelimits = &next
		}
		return i.Update(p.WorkspaceID, u)
	})
	if err != nil {
		return UpdateIdentityResult{}, err
	}
	out := IdentityData{ID: agg.ID, ExternalID: agg.ExternalID, Ratelimits: agg.Ratelimits}
	if len(agg.Meta) > 0 {
		out.Meta = agg.Meta
	}
	return out, nil
}
