package handlers

import (
	"context"
	"errors"

	"github.com/keyline/keyline/events"
)

// DeleteRatelimitOverrideInput is the input of DeleteRatelimitOverride.
type DeleteRatelimitOverrideInput struct {
	Namespace  string
	Identifier string
}

// DeleteRatelimitOverrideResult is what DeleteRatelimitOverride answers.
type DeleteRatelimitOverrideResult struct{}

// DeleteRatelimitOverride soft-deletes the override whose identifier is
// exactly the one given: unlike getOverride, no wildcard matching, so a
// client cannot delete a pattern by naming something it happens to match.
type DeleteRatelimitOverride struct {
	Reader RatelimitReader
	Log    EventLog
}

// NewDeleteRatelimitOverride builds the use case.
func NewDeleteRatelimitOverride(r RatelimitReader, log EventLog) *DeleteRatelimitOverride {
	return &DeleteRatelimitOverride{Reader: r, Log: log}
}

// Handle deletes the override: namespace 404, then permission 403, then
// override 404.
func (h *DeleteRatelimitOverride) Handle(ctx context.Context, p *Principal, in DeleteRatelimitOverrideInput) (DeleteRatelimitOverrideResult, error) {
	namespace := in.Namespace
	identifier := in.Identifier
	ns, err := namespaceForOverrides(ctx, h.Reader, p.WorkspaceID, namespace)
	if err != nil {
		return DeleteRatelimitOverrideResult{}, err
	}
	if err := p.RequireAny("ratelimit.*.delete_override", "ratelimit."+ns.ID+".delete_override"); err != nil {
		return DeleteRatelimitOverrideResult{}, err
	}
	id := events.RatelimitOverrideIDFor(ns.ID, identifier)
	meta := metaFor(ctx, p)
	_, err = update(ctx, h.Log, events.RatelimitOverrideStreamID(id), &meta, "ratelimit override", func(o *events.RatelimitOverride) ([]events.Event, error) {
		decided, err := o.Delete(p.WorkspaceID)
		if errors.Is(err, events.ErrNotFound) {
			return nil, Fail(CodeRatelimitOverrideNotFound, overrideNotFoundDetail)
		}
		if err != nil {
			return nil, Internal("deciding ratelimit override deletion", err)
		}
		return decided, nil
	})
	return DeleteRatelimitOverrideResult{}, err
}
