package projections

import (
	"bytes"
	"encoding/json"
	"testing"
)

// roundTrip is canonicalJSON's slow path: what isCanonical must predict.
func roundTrip(t *testing.T, raw string) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("re-encoding %q: %v", raw, err)
	}
	return string(out), true
}

func TestIsCanonicalAgreesWithTheRoundTrip(t *testing.T) {
	canonical := []string{
		`{}`, `[]`, `null`, `true`, `false`, `0`, `-1.5e+10`, `"x"`,
		`{"plan":"pro","seats":3}`,
		`{"a":{"b":[1,2,{"c":null}],"d":"e"},"f":false}`,
		`{"n":12345678901234567890123}`,
		`{"A":1,"B":2,"a":3}`,
	}
	for _, raw := range canonical {
		if !isCanonical([]byte(raw)) {
			t.Errorf("isCanonical(%q) = false", raw)
		}
		if got, ok := roundTrip(t, raw); !ok || got != raw {
			t.Errorf("round trip of %q = %q: the case is not canonical", raw, got)
		}
	}
	notCanonical := []string{
		``, ` {}`, `{} `, `{"seats":3,"plan":"pro"}`, `{"a":1, "b":2}`, `{"a":1,"a":2}`,
		`{"a":"<b>"}`, `{"a":"x&y"}`, `{"a":"\u00e9"}`, `{"a":"é"}`, `{"a":"\n"}`,
		`01`, `1.`, `-`, `1e`, `{"a":1}{}`, `[1,]`, `{"a":}`, `tru`, `{"a":1`,
	}
	for _, raw := range notCanonical {
		if isCanonical([]byte(raw)) {
			t.Errorf("isCanonical(%q) = true", raw)
		}
	}
	// Whatever isCanonical accepts, the round trip leaves byte for byte.
	for _, raw := range append(canonical, notCanonical...) {
		if isCanonical([]byte(raw)) {
			if got, _ := roundTrip(t, raw); got != raw {
				t.Errorf("isCanonical(%q) but the round trip gives %q", raw, got)
			}
		}
	}
}
