package analytics

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/keyline/keyline/events"
)

func checkLikeMarshal(t *testing.T, ev events.AnalyticsEvent) {
	t.Helper()
	got, gotErr := appendRecord([]byte("prefix"), &ev)
	want, wantErr := json.Marshal(ev)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%+v: error %v, json.Marshal %v", ev, gotErr, wantErr)
	}
	if wantErr == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("appendRecord wrote\n%s\njson.Marshal\nprefix%s", got, want)
	}
}

func TestAppendRecordIsJSONMarshal(t *testing.T) {
	v := events.KeyVerified{KeySpaceID: "ks_1", KeyID: "key_1", Outcome: "VALID", Tags: []string{"a", "b=c"}, SpentCredits: 1, LatencyMs: 0.1}
	r := events.RatelimitDecided{NamespaceID: "rlns_1", Identifier: "user_42", Passed: true, Limit: 10, Remaining: 9, Cost: 1, LatencyMs: 12}
	cases := []events.AnalyticsEvent{
		events.NewKeyVerified(1764201660000, "req_1", "ws_1", "local", v),
		events.NewRatelimitDecided(-1, "", "", "", r),
		{ID: "aev_empty"},
	}
	withIdentity := v
	withIdentity.IdentityID, withIdentity.ExternalID, withIdentity.Tags = "id_1", "ext_1", []string{}
	cases = append(cases, events.NewKeyVerified(0, "r", "w", "x", withIdentity))
	// Values the fast path leaves to json.Marshal.
	for _, s := range []string{"<b>", "a&b", `q"uote`, `back\slash`, "tab\t", "ü", "\u2028", "\xff", "\x7f"} {
		odd := v
		odd.ExternalID = s
		cases = append(cases, events.NewKeyVerified(1, "req", "ws", "local", odd))
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1e-6, 9.99e-7, 1e20, 1e21, 123456789.123, -0.5, math.SmallestNonzeroFloat64} {
		odd := r
		odd.LatencyMs = f
		cases = append(cases, events.NewRatelimitDecided(1, "req", "ws", "local", odd))
	}
	for _, ev := range cases {
		ev.ID = ev.ID + "x"
		checkLikeMarshal(t, ev)
	}
	// NaN and infinities: json.Marshal refuses them, and so does appendRecord.
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		odd := r
		odd.LatencyMs = f
		checkLikeMarshal(t, events.NewRatelimitDecided(1, "req", "ws", "local", odd))
	}
}

func FuzzAppendRecord(f *testing.F) {
	f.Add("aev_1", "key.verified", 1, int64(1764201660000), "req_1", "ks_1", "id_1", "VALID", "a,b", int64(1), 0.1, uint8(0))
	f.Add("aev_2", "ratelimit.decided", 1, int64(-1), "<&>", "rlns", "", "", "", int64(-7), 1e-7, uint8(1))
	f.Add("", "", 0, int64(0), "\xff", "\u2028", "ü", "\"", "\\", int64(0), math.Inf(1), uint8(2))
	f.Fuzz(func(t *testing.T, id, name string, version int, tm int64, s1, s2, s3, s4, tags string, n int64, fl float64, kind uint8) {
		ev := events.AnalyticsEvent{ID: id, Name: name, Version: version, Time: tm, RequestID: s1, WorkspaceID: s2, Region: s3}
		switch kind % 3 {
		case 0:
			var tt []string
			if tags != "" {
				tt = strings.Split(tags, ",")
			}
			ev.Verification = &events.KeyVerified{KeySpaceID: s2, KeyID: s1, IdentityID: s3, ExternalID: s4, Outcome: s4,
				Tags: tt, SpentCredits: n, LatencyMs: fl}
		case 1:
			ev.Ratelimit = &events.RatelimitDecided{NamespaceID: s4, Identifier: s3, Passed: n%2 == 0, Limit: n, Remaining: -n, Cost: tm, LatencyMs: fl}
		}
		checkLikeMarshal(t, ev)
		// And the decoder reads back what json.Unmarshal reads.
		if b, err := appendRecord(nil, &ev); err == nil {
			checkLikeEncodingJSON(t, string(b))
		}
	})
}

func BenchmarkAppendRecord(b *testing.B) {
	ev := events.NewKeyVerified(1764201660000, "req_1", "ws_1", "local", events.KeyVerified{KeySpaceID: "ks_1", KeyID: "key_1",
		Outcome: "VALID", Tags: []string{"klbench_1"}, SpentCredits: 1, LatencyMs: 0.1})
	ev.ID = NewID()
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = appendRecord(buf[:0], &ev)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(ev)
		}
	})
}

// Record IDs are what consumers deduplicate on: the documented shape, and
// no repeats.
func TestNewIDShapeAndUniqueness(t *testing.T) {
	seen := make(map[string]bool, 100_000)
	for range 100_000 {
		id := NewID()
		if len(id) != 36 || id[:4] != "aev_" || strings.Trim(id[4:], "0123456789abcdef") != "" || seen[id] {
			t.Fatalf("NewID: %q (outside the shape, or repeated)", id)
		}
		seen[id] = true
	}
}
