package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/keyline/keyline/events"
)

// memLog is an in-memory EventLog whose Append can let a rival writer get
// to the stream first, the race the write loop exists for.
type memLog struct {
	streams map[string][]events.Recorded
	// rival, when set, runs inside Append before the version check.
	rival func(l *memLog, stream string)
}

func (l *memLog) Load(_ context.Context, stream string) ([]events.Recorded, error) {
	return append([]events.Recorded(nil), l.streams[stream]...), nil
}

func (l *memLog) Append(_ context.Context, stream string, expected int64, meta events.Metadata, evs ...events.Event) ([]events.Recorded, error) {
	if l.rival != nil {
		l.rival(l, stream)
	}
	return l.add(stream, expected, meta, evs...)
}

func (l *memLog) add(stream string, expected int64, meta events.Metadata, evs ...events.Event) ([]events.Recorded, error) {
	if int64(len(l.streams[stream])) != expected {
		return nil, events.ErrVersionConflict
	}
	var out []events.Recorded
	for _, e := range evs {
		payload, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		r := events.Recorded{StreamID: stream, StreamVersion: int64(len(l.streams[stream])) + 1,
			Name: e.EventName(), Version: e.EventVersion(), Payload: payload, Meta: meta}
		l.streams[stream] = append(l.streams[stream], r)
		out = append(out, r)
	}
	return out, nil
}

func newWorkspaceLog(t *testing.T, name string) (*memLog, string) {
	t.Helper()
	l := &memLog{streams: map[string][]events.Recorded{}}
	var ws events.Workspace
	created, err := ws.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	stream := events.WorkspaceStreamID(events.WorkspaceIDForName(name))
	if _, err := l.add(stream, 0, events.Metadata{}, created...); err != nil {
		t.Fatal(err)
	}
	return l, stream
}

// A rival that toggles the workspace before each of our appends: every
// attempt conflicts until the rival stops, and each retry decides on the
// rival's state, not on a stale copy.
func TestUpdateRetriesOnFreshState(t *testing.T) {
	l, stream := newWorkspaceLog(t, "acme")
	rivals := 0
	l.rival = func(l *memLog, s string) {
		if rivals == maxConflictRetries {
			return
		}
		rivals++
		// The rival disables and re-enables: two events per race.
		wsID := events.WorkspaceIDForName("acme")
		n := int64(len(l.streams[s]))
		if _, err := l.add(s, n, events.Metadata{}, events.WorkspaceDisabled{WorkspaceID: wsID}, events.WorkspaceEnabled{WorkspaceID: wsID}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []int64
	meta := events.Metadata{ActorID: "test"}
	ws, err := update(context.Background(), l, stream, &meta, "workspace", func(ws *events.Workspace) ([]events.Event, error) {
		seen = append(seen, ws.Version)
		meta.WorkspaceID = ws.ID
		return ws.SetEnabled(false)
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	// 1 (created), then +2 per rival race: the last attempt decides on 11.
	want := []int64{1, 3, 5, 7, 9, 11}
	if len(seen) != len(want) {
		t.Fatalf("decided on versions %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("decided on versions %v, want %v", seen, want)
		}
	}
	if !ws.Disabled || ws.Version != 12 {
		t.Fatalf("returned aggregate: disabled %v version %d, want true 12", ws.Disabled, ws.Version)
	}
	last := l.streams[stream][len(l.streams[stream])-1]
	if last.Name != (events.WorkspaceDisabled{}).EventName() || last.Meta.WorkspaceID != events.WorkspaceIDForName("acme") || last.Meta.ActorID != "test" {
		t.Fatalf("last event %s with meta %+v", last.Name, last.Meta)
	}
}

// A stream that never stops moving surfaces as an internal error after the
// bound, with nothing of ours appended.
func TestUpdateGivesUpAfterTheBound(t *testing.T) {
	l, stream := newWorkspaceLog(t, "busy")
	races := 0
	l.rival = func(l *memLog, s string) {
		races++
		wsID := events.WorkspaceIDForName("busy")
		n := int64(len(l.streams[s]))
		if _, err := l.add(s, n, events.Metadata{ActorID: "rival"}, events.WorkspaceDisabled{WorkspaceID: wsID}, events.WorkspaceEnabled{WorkspaceID: wsID}); err != nil {
			t.Fatal(err)
		}
	}
	meta := events.Metadata{ActorID: "test"}
	_, err := update(context.Background(), l, stream, &meta, "workspace", func(ws *events.Workspace) ([]events.Event, error) {
		return ws.SetEnabled(false)
	})
	var pub *Error
	if !errors.As(err, &pub) || pub.Code != CodeUnexpected || !errors.Is(err, events.ErrVersionConflict) {
		t.Fatalf("err = %v, want an internal error wrapping the version conflict", err)
	}
	if races != maxConflictRetries+1 {
		t.Fatalf("%d attempts, want %d", races, maxConflictRetries+1)
	}
	for _, r := range l.streams[stream] {
		if r.Meta.ActorID == "test" {
			t.Fatalf("an event of the failed command was appended: %s", r.Name)
		}
	}
}

// A decision error comes back unchanged and appends nothing; deciding
// nothing appends nothing and returns the loaded state.
func TestUpdateDecisionErrorsAndNoOps(t *testing.T) {
	l, stream := newWorkspaceLog(t, "calm")
	meta := events.Metadata{}
	sentinel := Fail(CodeWorkspaceNotFound, "nope")
	if _, err := update(context.Background(), l, stream, &meta, "workspace", func(*events.Workspace) ([]events.Event, error) {
		return nil, sentinel
	}); err != sentinel {
		t.Fatalf("err = %v, want the decision's own error", err)
	}
	ws, err := update(context.Background(), l, stream, &meta, "workspace", func(ws *events.Workspace) ([]events.Event, error) {
		return ws.SetEnabled(true) // already enabled: nothing to do
	})
	if err != nil || ws.Version != 1 || len(l.streams[stream]) != 1 {
		t.Fatalf("no-op: err %v, version %d, stream length %d; want nil, 1, 1", err, ws.Version, len(l.streams[stream]))
	}
}
