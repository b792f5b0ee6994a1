package handlers

import (
	"context"
	"errors"

	"github.com/keyline/keyline/events"
)

// UpdateCredits sets, increments or decrements a key's credits.
type UpdateCredits struct {
	Log    EventLog
	Reader KeyReader
}

// NewUpdateCredits builds the use case.
func NewUpdateCredits(log EventLog, r KeyReader) *UpdateCredits {
	return &UpdateCredits{Log: log, Reader: r}
}

// Handle returns the key's credits after the change.
func (h *UpdateCredits) Handle(ctx context.Context, p *Principal, keyID, operation string, value *int64) (CreditsData, error) {
	if _, err := lookupKeyForUpdate(ctx, h.Log, p, keyID, "update_key"); err != nil {
		return CreditsData{}, err
	}
	if operation != "set" && value == nil {
		return CreditsData{}, Fail(CodeInvalidInput, "When using increment or decrement, a value must be provided.")
	}
	k, err := appendToKey(ctx, h.Log, p, keyID, func(k *events.Key) ([]events.Event, error) {
		switch operation {
		case "set":
			return k.SetCredits(p.WorkspaceID, value)
		case "increment":
			return k.Increment(p.WorkspaceID, *value)
		default:
			// The floor at 0 depends on the live balance, which includes
			// spends not yet in the log; the event records the result.
			row, _, err := h.Reader.Credits(ctx, keyID)
			if err != nil {
				return nil, Internal("reading credits", err)
			}
			var current int64
			if row.Remaining != nil {
				current = *row.Remaining
			}
			return k.Decrement(p.WorkspaceID, *value, current)
		}
	})
	if errors.Is(err, events.ErrUnlimitedCredits) {
		return CreditsData{}, Fail(CodeInvalidInput, "You cannot increment or decrement a key with unlimited credits.")
	}
	if err != nil {
		return CreditsData{}, err
	}
	row, _, err := h.Reader.Credits(ctx, keyID)
	if err != nil {
		return CreditsData{}, Internal("reading credits", err)
	}
	return CreditsData{Remaining: row.Remaining, Refill: refillIf(row.Remaining != nil, k.Refill)}, nil
}

func refillIf(ok bool, r *events.Refill) *events.Refill {
	if !ok {
		return nil
	}
	return r
}
