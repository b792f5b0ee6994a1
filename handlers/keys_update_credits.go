package handlers

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// CreditOperation is what keys.updateCredits does to the balance. Typed, so
// that an operation this file does not know is refused instead of falling
// through to one of the others.
type CreditOperation int

const (
	CreditsSet CreditOperation = iota + 1
	CreditsIncrement
	CreditsDecrement
)

// ParseCreditOperation maps the wire's "set", "increment" and "decrement".
func ParseCreditOperation(s string) (CreditOperation, bool) {
	switch s {
	case "set":
		return CreditsSet, true
	case "increment":
		return CreditsIncrement, true
	case "decrement":
		return CreditsDecrement, true
	}
	return 0, false
}

// UpdateCreditsInput is the input of UpdateCredits.
type UpdateCreditsInput struct {
	KeyID     string
	Operation CreditOperation
	Value     *int64
}

// UpdateCreditsResult is what UpdateCredits answers.
type UpdateCreditsResult = CreditsData

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
func (h *UpdateCredits) Handle(ctx context.Context, p *Principal, in UpdateCreditsInput) (UpdateCreditsResult, error) {
	keyID := in.KeyID
	operation := in.Operation
	value := in.Value
	if operation < CreditsSet || operation > CreditsDecrement {
		return CreditsData{}, Internal("updating credits", fmt.Errorf("unknown credit operation %d", operation))
	}
	if _, err := lookupKeyForUpdate(ctx, h.Log, p, keyID, "update_key"); err != nil {
		return CreditsData{}, err
	}
	if operation != CreditsSet && value == nil {
		return CreditsData{}, Fail(CodeInvalidInput, "When using increment or decrement, a value must be provided.")
	}
	k, err := appendToKey(ctx, h.Log, p, keyID, func(k *events.Key) ([]events.Event, error) {
		switch operation {
		case CreditsSet:
			return k.SetCredits(p.WorkspaceID, value)
		case CreditsIncrement:
			// Balances are int64 in both stores; a sum past MaxInt64 would
			// fail on PostgreSQL and turn the column into a REAL on SQLite.
			// Read inside decide, so a retry after a concurrent change
			// checks the new balance.
			row, _, err := h.Reader.Credits(ctx, keyID)
			if err != nil {
				return nil, Internal("reading credits", err)
			}
			if err := checkIncrement(row, *value); err != nil {
				return nil, err
			}
			return k.Increment(p.WorkspaceID, *value)
		case CreditsDecrement:
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
		return nil, Internal("updating credits", fmt.Errorf("unknown credit operation %d", operation))
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

// checkIncrement refuses an increment that would take the balance, or the
// balance the log accounts for (higher while spends are unflushed), past
// MaxInt64.
func checkIncrement(row projections.KeyCreditsRow, by int64) error {
	highest := int64(0)
	for _, v := range []*int64{row.Remaining, row.Logged} {
		if v != nil {
			highest = max(highest, *v)
		}
	}
	if by <= math.MaxInt64-highest {
		return nil
	}
	limit := math.MaxInt64 - highest
	return &Error{Code: CodeInvalidInput,
		Detail: fmt.Sprintf("Incrementing by %d would exceed the maximum balance of %d credits; the largest possible increment is %d.", by, int64(math.MaxInt64), limit),
		Fields: []FieldError{{Location: "/properties/value/maximum", Message: fmt.Sprintf("maximum: got %d, want %d", by, limit),
			Fix: "correct the value of '/value' in the request body"}}}
}

func refillIf(ok bool, r *events.Refill) *events.Refill {
	if !ok {
		return nil
	}
	return r
}
