package handlers

import (
	"context"
	"encoding/json"

	"github.com/keyline/keyline/events"
)

// CreditsUpdate is the credits object of keys.updateKey.
type CreditsUpdate struct {
	Remaining *events.Change[int64]
	Refill    *events.Change[events.Refill]
}

// UpdateKeyInput is the body of keys.updateKey. Its *events.Change fields
// keep the three states apart: absent (nil), null (nil Value) or a value.
type UpdateKeyInput struct {
	KeyID       string
	Name        *events.Change[string]
	ExternalID  *events.Change[string]
	Meta        *events.Change[json.RawMessage]
	Expires     *events.Change[int64]
	Credits     *events.Change[CreditsUpdate]
	Ratelimits  *[]RatelimitInput
	Enabled     *bool
	Roles       *[]string
	Permissions *[]string
}

// UpdateKeyResult is what UpdateKey answers.
type UpdateKeyResult struct{}

// UpdateKey changes a key's settings.
type UpdateKey struct {
	Log    EventLog
	Reader KeyReader
}

// NewUpdateKey builds the use case.
func NewUpdateKey(log EventLog, r KeyReader) *UpdateKey { return &UpdateKey{Log: log, Reader: r} }

// Handle: lookup (404) → update_key (403) → validation (400) → roles (404)
// → permissions (auto-created) → identity (upserted) → one append.
func (h *UpdateKey) Handle(ctx context.Context, p *Principal, in UpdateKeyInput) (UpdateKeyResult, error) {
	k, err := lookupKeyForUpdate(ctx, h.Log, p, in.KeyID, "update_key")
	if err != nil {
		return UpdateKeyResult{}, err
	}
	u := events.KeyUpdated{Name: in.Name, Meta: in.Meta, Expires: in.Expires}
	var credits *events.Change[int64]
	if in.Credits != nil {
		if in.Credits.Value == nil {
			credits = &events.Change[int64]{}
		} else {
			c := in.Credits.Value
			credits = c.Remaining
			if c.Refill != nil && c.Refill.Value != nil {
				limited := k.Limited
				if c.Remaining != nil {
					limited = c.Remaining.Value != nil
				}
				if !limited {
					return UpdateKeyResult{}, Fail(CodeInvalidInput, "`credits.remaining` must be set when `credits.refill` is provided.")
				}
				if err := validateCredits(&CreditsInput{Remaining: new(int64), Refill: c.Refill.Value}, true); err != nil {
					return UpdateKeyResult{}, err
				}
			}
			if c.Refill != nil && !(c.Remaining != nil && c.Remaining.Value == nil) {
				u.Refill = c.Refill
			}
		}
	}
	if in.Ratelimits != nil {
		rls := newRatelimits(*in.Ratelimits, k.Ratelimits)
		u.Ratelimits = &rls
	}
	var roleIDs, permIDs []string
	if in.Roles != nil {
		if roleIDs, _, err = resolveRoles(ctx, h.Reader, p.WorkspaceID, *in.Roles); err != nil {
			return UpdateKeyResult{}, err
		}
	}
	if in.Permissions != nil {
		if permIDs, err = resolvePermissions(ctx, h.Reader, h.Log, p, *in.Permissions, createMissing); err != nil {
			return UpdateKeyResult{}, err
		}
	}
	if in.ExternalID != nil {
		var id string
		if in.ExternalID.Value != nil {
			if id, err = ensureIdentity(ctx, h.Reader, h.Log, p, *in.ExternalID.Value); err != nil {
				return UpdateKeyResult{}, err
			}
		}
		u.IdentityID = &events.Change[string]{}
		if id != "" {
			u.IdentityID.Value = &id
		}
	}
	_, err = appendToKey(ctx, h.Log, p, in.KeyID, func(k *events.Key) ([]events.Event, error) {
		var out []events.Event
		if u.Name != nil || u.Meta != nil || u.Expires != nil || u.Refill != nil || u.Ratelimits != nil || u.IdentityID != nil {
			evs, err := k.Update(p.WorkspaceID, u)
			if err != nil {
				return nil, err
			}
			out = append(out, evs...)
		}
		steps := []func() ([]events.Event, error){}
		if in.Enabled != nil {
			steps = append(steps, func() ([]events.Event, error) { return k.SetEnabled(p.WorkspaceID, *in.Enabled) })
		}
		if credits != nil {
			steps = append(steps, func() ([]events.Event, error) { return k.SetCredits(p.WorkspaceID, credits.Value) })
		}
		if in.Permissions != nil {
			steps = append(steps, func() ([]events.Event, error) { return k.SetPermissions(p.WorkspaceID, permIDs) })
		}
		if in.Roles != nil {
			steps = append(steps, func() ([]events.Event, error) { return k.SetRoles(p.WorkspaceID, roleIDs) })
		}
		for _, step := range steps {
			evs, err := step()
			if err != nil {
				return nil, err
			}
			out = append(out, evs...)
		}
		// A refill set after credits were cleared in the same request must
		// land after the clear, so the set-like credit event goes first.
		return reorderCreditsFirst(out), nil
	})
	return UpdateKeyResult{}, err
}

func reorderCreditsFirst(evs []events.Event) []events.Event {
	var first, rest []events.Event
	for _, e := range evs {
		if _, ok := e.(events.KeyCreditsSet); ok {
			first = append(first, e)
		} else {
			rest = append(rest, e)
		}
	}
	return append(first, rest...)
}
