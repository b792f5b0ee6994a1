package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
)

// SetRatelimitOverrideInput is the input of ratelimit.setOverride.
type SetRatelimitOverrideInput struct {
	Namespace  string
	Identifier string
	Limit      int64
	DurationMs int64
}

// SetRatelimitOverrideResult is what SetRatelimitOverride answers.
type SetRatelimitOverrideResult struct{ OverrideID string }

// SetRatelimitOverride upserts the override of an identifier pattern: the
// override's ID derives from namespace and identifier, so setting the same
// identifier again updates it in place and answers the same ID.
type SetRatelimitOverride struct {
	Reader RatelimitReader
	Log    EventLog
}

// NewSetRatelimitOverride builds the use case.
func NewSetRatelimitOverride(r RatelimitReader, log EventLog) *SetRatelimitOverride {
	return &SetRatelimitOverride{Reader: r, Log: log}
}

// Handle returns the override's ID. The namespace lookup comes first (404),
// then the permission (403), as in Unkey.
func (h *SetRatelimitOverride) Handle(ctx context.Context, p *Principal, in SetRatelimitOverrideInput) (SetRatelimitOverrideResult, error) {
	cmd := in
	ns, err := namespaceForOverrides(ctx, h.Reader, p.WorkspaceID, cmd.Namespace)
	if err != nil {
		return SetRatelimitOverrideResult{}, err
	}
	if err := p.RequireAny("ratelimit.*.set_override", "ratelimit."+ns.ID+".set_override"); err != nil {
		return SetRatelimitOverrideResult{}, err
	}
	id := events.RatelimitOverrideIDFor(ns.ID, cmd.Identifier)
	// Two concurrent upserts of one identifier move the same stream; the
	// loser decides again on the winner's state.
	meta := metaFor(ctx, p)
	_, err = update(ctx, h.Log, events.RatelimitOverrideStreamID(id), &meta, "ratelimit override", func(o *events.RatelimitOverride) ([]events.Event, error) {
		decided, err := o.Set(events.RatelimitOverrideSet{NamespaceID: ns.ID, WorkspaceID: p.WorkspaceID,
			Identifier: cmd.Identifier, Limit: cmd.Limit, DurationMs: cmd.DurationMs})
		if err != nil {
			return nil, Internal("deciding ratelimit override", err)
		}
		return decided, nil
	})
	if err != nil {
		return SetRatelimitOverrideResult{}, err
	}
	return SetRatelimitOverrideResult{OverrideID: id}, nil
}
