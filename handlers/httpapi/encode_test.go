package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers"
)

func TestAppendersWriteWhatEncodingJSONWrites(t *testing.T) {
	n, yes := int64(-42), true
	results := []handlers.VerifyKeyResult{
		{Code: "NOT_FOUND"},
		{Valid: true, Code: "VALID", KeyID: "key_1", Enabled: &yes},
		{Valid: false, Code: "USAGE_EXCEEDED", KeyID: "key_2", Name: `<b>"Tom" & Jerry\é` + "\n\u2028",
			Meta: json.RawMessage(` { "plan" : "pro", "n": [1, 2] } `), Expires: &n, Credits: &n, Enabled: &yes,
			Permissions: []string{"documents.read", "a&b"}, Roles: []string{"admin"},
			Identity: &handlers.IdentityData{ID: "id_1", ExternalID: "user<1>", Meta: json.RawMessage(`{"a":1}`),
				Ratelimits: []events.Ratelimit{{ID: "rl_1", Name: "requests", Limit: 10, Duration: 1000}}},
			Ratelimits: []handlers.VerifyRatelimitData{{ID: "rl_2", Name: "tokens", Limit: 5, Duration: 60000,
				AutoApply: true, Exceeded: true, Remaining: 0, Reset: 1700000000000}}},
	}
	for _, r := range results {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := (*verifyKeyResponse)(&r).appendJSON(nil)
		if err != nil || string(got) != string(want) {
			t.Errorf("verifyKey response:\n got %s (%v)\nwant %s", got, err, want)
		}
	}
	for _, r := range []limitResponse{{Success: true, Limit: 10, Remaining: 9, Reset: 1700000060000},
		{Limit: 1, Reset: -1, OverrideID: "ovr_1"}} {
		want, _ := json.Marshal(r)
		if got, err := r.appendJSON(nil); err != nil || string(got) != string(want) {
			t.Errorf("limit response:\n got %s (%v)\nwant %s", got, err, want)
		}
	}
}

func FuzzAppendStringMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "plain", `"q"`, `\`, "<>&", "é", "\x00\x1f\x7f", "\u2028\u2029", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}
