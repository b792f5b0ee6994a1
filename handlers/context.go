package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
)

type requestIDKey struct{}

// RequestScope is what the serving layer keeps about the request being
// served: at least its ID, which events appended while serving it carry in
// their metadata. A layer may keep more in its own implementation (the HTTP
// layer keeps the validated body there), so that one context value holds it
// all: each further value costs every request two allocations.
type RequestScope interface {
	RequestID() string
}

// requestID is the scope of a request known by its ID alone.
type requestID string

func (id requestID) RequestID() string { return string(id) }

// WithRequestID stores the request ID (see RequestScope).
func WithRequestID(ctx context.Context, id string) context.Context {
	return WithRequestScope(ctx, requestID(id))
}

// WithRequestScope stores the request's scope.
func WithRequestScope(ctx context.Context, s RequestScope) context.Context {
	return context.WithValue(ctx, requestIDKey{}, s)
}

// Scope returns the scope stored by WithRequestScope or WithRequestID, or nil.
func Scope(ctx context.Context) RequestScope {
	s, _ := ctx.Value(requestIDKey{}).(RequestScope)
	return s
}

// RequestID returns the ID of the request's scope, or "".
func RequestID(ctx context.Context) string {
	if s := Scope(ctx); s != nil {
		return s.RequestID()
	}
	return ""
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
