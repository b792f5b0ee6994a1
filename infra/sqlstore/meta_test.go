package sqlstore

import (
	"encoding/json"
	"testing"

	"github.com/keyline/keyline/events"
)

// TestDecodeMetaMatchesEncodingJSON holds the fast path to encoding/json's
// result on the shapes the log holds and on the ones it hands back.
func TestDecodeMetaMatchesEncodingJSON(t *testing.T) {
	cases := []string{
		`{}`,
		` { } `,
		`{"actorId":"klbench"}`,
		`{"requestId":"req_1","workspaceId":"ws_2","actorId":"key_3"}`,
		`{"actorId": "a", "requestId": "r", "workspaceId": "w"}`,
		`{"actorId":"a","actorId":"b"}`,
		`{"ActorID":"case-insensitive"}`,
		`{"actorId":"esc\"aped\u00e9"}`,
		`{"actorId":"ünïcode"}`,
		`{"other":"x","actorId":"a"}`,
		`{"actorId":null}`,
		"{\"actorId\":\"a\"}\n",
	}
	for _, c := range cases {
		var want events.Metadata
		if err := json.Unmarshal([]byte(c), &want); err != nil {
			t.Fatalf("encoding/json on %q: %v", c, err)
		}
		got, err := decodeMeta([]byte(c))
		if err != nil {
			t.Fatalf("decodeMeta(%q): %v", c, err)
		}
		if got != want {
			t.Errorf("decodeMeta(%q) = %+v, encoding/json gives %+v", c, got, want)
		}
	}
	for _, bad := range []string{``, `{`, `{"actorId":"a"`, `{"actorId":"a"}x`, `{"actorId":1}`, `[]`} {
		if _, err := decodeMeta([]byte(bad)); err == nil {
			t.Errorf("decodeMeta(%q) accepted invalid metadata", bad)
		}
	}
}
