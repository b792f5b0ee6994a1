package cluster

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/testenv"
)

// Two deployments sharing a Redis must not see each other's membership
// records: redis.streamPrefix names the keyline.cluster stream as it names
// the others.
func TestSinkPrefixesTheClusterStream(t *testing.T) {
	url := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t)
	cfg := &configs.Config{Redis: &configs.Redis{URL: url, StreamPrefix: prefix},
		Cluster: &configs.Cluster{Discovery: configs.Discovery{Static: &configs.StaticDiscovery{Addrs: []string{"127.0.0.1:1"}}}}}
	s := newSink(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer s.close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.run(ctx); close(done) }()
	ev := Event{ID: "ev_prefix_" + prefix, Name: EventNodeJoined, Version: EventVersion, NodeID: "n1", Observer: "n2", At: time.Now().UTC()}
	if !s.publish(ev) {
		t.Fatal("publish reported no stream although redis.url is set")
	}
	cancel()
	<-done

	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	msgs, err := rdb.XRange(context.Background(), prefix+StreamTopic, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%s holds %d records, want 1", prefix+StreamTopic, len(msgs))
	}
	var got Event
	if err := json.Unmarshal([]byte(msgs[0].Values["payload"].(string)), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != ev.ID || got.Name != EventNodeJoined || got.NodeID != "n1" {
		t.Fatalf("record = %+v, want %+v", got, ev)
	}
	// The unprefixed stream, which other deployments read, got nothing of ours.
	others, err := rdb.XRange(context.Background(), StreamTopic, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range others {
		if p, _ := m.Values["payload"].(string); json.Unmarshal([]byte(p), &got) == nil && got.ID == ev.ID {
			t.Fatalf("record %s reached the unprefixed %s", ev.ID, StreamTopic)
		}
	}
}
