package analytics

import (
	"context"
	"encoding/json"
	"testing"

	wredis "github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"

	"github.com/keyline/keyline/events"
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
