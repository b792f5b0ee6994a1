package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
)

type requestIDKey struct{}

// WithRequestID stores the request ID so that events appended while serving
// the request carry it in their metadata.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the ID stored by WithRequestID, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// EventLog is the durable log the use cases append to.
type EventLog interface {
	// Load returns a stream's events in order.
	Load(ctx context.Context, streamID string) ([]events.Recorded, error)
	// Append adds evs to streamID if it is still at expectedVersion, or fails
	// with events.ErrVersionConflict.
	Append(ctx context.Context, streamID string, expectedVersion int64, meta events.Metadata, evs ...events.Event) ([]events.Recorded, error)
}

// metaFor builds the audit metadata of events appended on p's behalf.
func metaFor(ctx context.Context, p *Principal) events.Metadata {
	m := events.Metadata{RequestID: RequestID(ctx)}
	if p != nil {
		m.WorkspaceID, m.ActorID = p.WorkspaceID, p.RootKeyID
	}
	return m
}
