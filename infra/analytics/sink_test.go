package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	wredis "github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/testenv"
)

// The publisher writes watermill-redisstream's default format: watermill's
// own unmarshaller (what watermill subscribers use) reads back the record ID
// as the message UUID, no metadata and the record's JSON, and so does the
// projector's decodeEntry.
func TestPublisherWritesWatermillFormat(t *testing.T) {
	env := newProjectorEnv(t)
	ev := events.NewRatelimitDecided(1764201660000, "req_1", "ws_1", "eu", events.RatelimitDecided{
		NamespaceID: "rlns_1", Identifier: "user <42>", Passed: true, Limit: 10, Remaining: 9, Cost: 1, LatencyMs: 0.5})
	ev.ID = NewID()
	if err := env.pub.Publish(context.Background(), []events.AnalyticsEvent{ev}, false); err != nil {
		t.Fatal(err)
	}
	msgs, err := env.client.XRange(context.Background(), env.stream, "-", "+").Result()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("stream holds %d entries (%v), want 1", len(msgs), err)
	}
	msg, err := wredis.DefaultMarshallerUnmarshaller{}.Unmarshal(msgs[0].Values)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(ev)
	if msg.UUID != ev.ID || string(msg.Payload) != string(want) || len(msg.Metadata) != 0 {
		t.Fatalf("watermill reads UUID %q, payload %s, metadata %v; want %q, %s, none", msg.UUID, msg.Payload, msg.Metadata, ev.ID, want)
	}
	e := decodeEntry(env.stream, msgs[0])
	if e.UUID != ev.ID || e.Payload != string(want) || e.RedisID != msgs[0].ID {
		t.Fatalf("decodeEntry = %+v", e)
	}
	// An entry without the UUID field is refused by watermill and read as
	// empty (skipped and acknowledged) by decodeEntry.
	delete(msgs[0].Values, wredis.UUIDHeaderKey)
	if _, err := (wredis.DefaultMarshallerUnmarshaller{}).Unmarshal(msgs[0].Values); err == nil {
		t.Fatal("watermill accepted an entry without UUID")
	}
	if e := decodeEntry(env.stream, msgs[0]); e.Payload != "" {
		t.Fatalf("decodeEntry read a payload from an entry without UUID: %+v", e)
	}
}

// recordingPublisher keeps the size of every batch it is given.
type recordingPublisher struct {
	mu      sync.Mutex
	batches []int
}

func (r *recordingPublisher) Publish(_ context.Context, evs []events.AnalyticsEvent, _ bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, len(evs))
	return nil
}

func (r *recordingPublisher) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

// Whole batches leave as soon as they are queued; what is left waits for
// the flush tick and then leaves as one batch.
func TestSinkSendsWholeBatchesAtOnceAndTheRestOnTheTick(t *testing.T) {
	pub := &recordingPublisher{}
	const flush = 400 * time.Millisecond
	sink := NewSink(configs.Analytics{BufferSize: 1000, BatchSize: 10, FlushIntervalMs: int(flush / time.Millisecond)}, pub, discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sink.Run(ctx) }()
	defer func() { cancel(); <-done }()

	start := time.Now()
	for range 25 {
		sink.Emit(events.NewKeyVerified(1, "req", "ws", "local", events.KeyVerified{KeyID: "key_1", Outcome: "VALID"}))
	}
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		return sink.Published() >= 20, fmt.Sprintf("published %d", sink.Published())
	})
	if elapsed := time.Since(start); elapsed < flush && sink.Published() == 25 {
		t.Fatalf("the last 5 records left after %v, before the %v tick: %v", elapsed, flush, pub.sizes())
	}
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		return sink.Published() == 25, fmt.Sprintf("published %d", sink.Published())
	})
	if got := pub.sizes(); !slices.Equal(got, []int{10, 10, 5}) {
		t.Fatalf("batches %v, want [10 10 5]", got)
	}
}
