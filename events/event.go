package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Event is a fact that happened. Implementations are plain structs that
// marshal to JSON; the name and version identify the schema of that JSON.
type Event interface {
	EventName() string
	EventVersion() int
}

// Metadata travels with every event but is not part of the fact itself: who
// caused it and under which request, for the audit trail.
type Metadata struct {
	RequestID   string `json:"requestId,omitempty"`
	WorkspaceID string `json:"workspaceId,omitempty"`
	ActorID     string `json:"actorId,omitempty"`
}

// Recorded is an event as it sits in the log.
//
// Position is global and, because appends are serialised, gap-free in commit
// order: a reader that has seen position N has seen every committed event up
// to N. StreamVersion counts events within one stream and gives optimistic
// concurrency per aggregate.
type Recorded struct {
	Position      int64
	StreamID      string
	StreamVersion int64
	Name          string
	Version       int
	Payload       json.RawMessage
	Meta          Metadata
	OccurredAt    time.Time
}

// Decode turns the stored payload back into its typed event.
func (r Recorded) Decode() (Event, error) {
	return Decode(r.Name, r.Version, r.Payload)
}

// ErrVersionConflict is returned by an append whose expected stream version
// no longer matches: another writer got there first. Callers reload and decide
// again, or treat it as "already exists" for creates with deterministic IDs.
var ErrVersionConflict = errors.New("events: stream version conflict")

// ErrUnknownEvent means the log holds an event this build cannot decode. It
// is loud on purpose: silently skipping would corrupt read models.
var ErrUnknownEvent = errors.New("events: unknown event name or version")

type registryKey struct {
	name    string
	version int
}

var (
	registryMu sync.RWMutex
	registry   = map[registryKey]func() Event{}
)

// register makes an event type decodable. It is called from init functions of
// this package only, so the set of known events is fixed at build time.
func register(factory func() Event) {
	e := factory()
	registryMu.Lock()
	defer registryMu.Unlock()
	k := registryKey{e.EventName(), e.EventVersion()}
	if _, dup := registry[k]; dup {
		panic(fmt.Sprintf("events: %s v%d registered twice", k.name, k.version))
	}
	registry[k] = factory
}

// Decode builds the typed event named name@version from its JSON payload.
func Decode(name string, version int, payload []byte) (Event, error) {
	registryMu.RLock()
	factory, ok := registry[registryKey{name, version}]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s v%d", ErrUnknownEvent, name, version)
	}
	e := factory()
	if err := json.Unmarshal(payload, e); err != nil {
		return nil, fmt.Errorf("decoding %s v%d: %w", name, version, err)
	}
	// factories return pointers so Unmarshal can fill them; hand out values so
	// type switches elsewhere match on the plain struct type.
	return deref(e), nil
}

// Known lists every registered event as "name.vN", sorted; docs/EVENTS.md is
// checked against it.
func Known() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, fmt.Sprintf("%s.v%d", k.name, k.version))
	}
	sort.Strings(out)
	return out
}

// derefer is implemented by the pointer form of every event so Decode can
// return the value form without reflection.
type derefer interface{ value() Event }

func deref(e Event) Event {
	if d, ok := e.(derefer); ok {
		return d.value()
	}
	return e
}
