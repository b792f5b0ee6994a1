package analytics

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"unsafe"

	"github.com/keyline/keyline/events"
)

// decodeSeeds are records as the publisher writes them, and near misses
// that must take encoding/json's path and come out the same.
var decodeSeeds = []string{
	`{"id":"aev_1","name":"key.verified","version":1,"time":1764201660000,"requestId":"req_1","workspaceId":"ws_1","region":"local","verification":{"keySpaceId":"ks_1","keyId":"key_1","outcome":"VALID","tags":["a","b"],"spentCredits":1,"latencyMs":0.1}}`,
	`{"id":"aev_2","name":"ratelimit.decided","version":1,"time":-5,"requestId":"","workspaceId":"ws","region":"eu","ratelimit":{"namespaceId":"rlns_1","identifier":"user_42","passed":true,"limit":10,"remaining":9,"cost":1,"latencyMs":1e-3}}`,
	`{"id":"aev_3","verification":{"identityId":"id_1","externalId":"ext","tags":[],"latencyMs":12.5e2}}`,
	` { "id" : "aev_4" , "ratelimit" : { "passed" : false } } `,
	`{"id":"aev_5","verification":{"keyId":"a"},"verification":{"outcome":"VALID"}}`, // a repeated object merges
	`{"id":"aev_6","verification":{"tags":["x","y"],"tags":["z"]}}`,
	`{"id":"aev_7","region":"Zürich ✓"}`,
	`{"id":"aev_8","region":"\u00fc\n"}`,   // escapes
	`{"ID":"aev_9","Region":"x"}`,          // keys match case-insensitively
	`{"id":"aev_10","future":{"a":[1,2]}}`, // an unknown (later) field
	`{"id":"aev_11","verification":null}`,  // null
	`{"id":"aev_12","time":1.5}`,           // not an int64
	`{"id":"aev_13","time":01}`,            // not JSON
	`{"id":"aev_14","version":99999999999999999999}`,
	`{"id":"aev_15","ratelimit":{"latencyMs":1e400}}`,
	`{"id":"aev_16"} x`,
	`{"id":"aev_17",}`,
	`{"id":"aev_18"`,
	`{"id":"a` + "\xff" + `"}`,
	`{"id":"a` + "\x01" + `"}`,
	`{"id":"aev_19","time":-}`,
	`{"id":"aev_20","time":1-2}`,
	`{"id":"aev_21","ratelimit":{"passed":tru}}`,
	`{}`,
	`[]`,
	`null`,
	``,
}

func checkLikeEncodingJSON(t *testing.T, payload string) {
	t.Helper()
	var got, want events.AnalyticsEvent
	gotErr := decodeRecord(payload, &got)
	wantErr := json.Unmarshal([]byte(payload), &want)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%q: error %v, encoding/json %v", payload, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %+v %+v %+v\nwant %+v %+v %+v", payload, got, got.Verification, got.Ratelimit,
			want, want.Verification, want.Ratelimit)
	}
}

func TestDecodeRecordAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range decodeSeeds {
		checkLikeEncodingJSON(t, s)
	}
	// And what the publisher writes, through json.Marshal.
	for _, ev := range []events.AnalyticsEvent{
		events.NewKeyVerified(1764201660123, "req_x", "ws_x", "local", events.KeyVerified{KeySpaceID: "ks", KeyID: "key",
			IdentityID: "id", ExternalID: "user <1> & \"2\"", Outcome: "RATE_LIMITED", Tags: []string{"path=/v1", "ü"},
			SpentCredits: -3, LatencyMs: 0.123456789}),
		events.NewRatelimitDecided(0, "", "", "", events.RatelimitDecided{NamespaceID: "rlns", Identifier: "i",
			Passed: true, Limit: 1 << 62, Remaining: -1, Cost: 0, LatencyMs: 3}),
	} {
		ev.ID = NewID()
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		checkLikeEncodingJSON(t, string(b))
	}
}

// The fast path takes what the publisher writes (no fallback, one
// allocation for all strings beyond the nested structs and tags), and the
// record it returns does not keep the payload alive.
func TestDecodeRecordFastPath(t *testing.T) {
	d := recordDecoder{s: decodeSeeds[0]}
	var ev events.AnalyticsEvent
	if !d.record(&ev) {
		t.Fatal("the publisher's own shape took the fallback")
	}
	payload := string([]byte(decodeSeeds[0])) // a copy of its own
	ev = events.AnalyticsEvent{}
	if err := decodeRecord(payload, &ev); err != nil {
		t.Fatal(err)
	}
	lo := uintptr(unsafe.Pointer(unsafe.StringData(payload)))
	for _, s := range append([]string{ev.ID, ev.Name, ev.RequestID, ev.WorkspaceID, ev.Region,
		ev.Verification.KeySpaceID, ev.Verification.KeyID, ev.Verification.Outcome}, ev.Verification.Tags...) {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(s))); s != "" && p >= lo && p < lo+uintptr(len(payload)) {
			t.Fatalf("%q points into the payload: the record keeps it alive", s)
		}
	}
	into := new(events.AnalyticsEvent)
	allocs := testing.AllocsPerRun(100, func() {
		*into = events.AnalyticsEvent{}
		_ = decodeRecord(decodeSeeds[0], into)
	})
	if allocs > 4 { // the verification, the tags' array growing to 2, and one for all strings
		t.Errorf("%.0f allocations per record", allocs)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		checkLikeEncodingJSON(t, payload)
	})
}

func BenchmarkDecodeRecord(b *testing.B) {
	payload := decodeSeeds[0]
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var ev events.AnalyticsEvent
			if err := decodeRecord(payload, &ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var ev events.AnalyticsEvent
			if err := json.Unmarshal([]byte(payload), &ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
