package openapi

import (
	"encoding/json"
	"strings"
	"testing"
)

// Whatever the operation and the bytes, the validator answers without
// panicking; a body it accepts is valid JSON, and a rejection carries the
// detail and at least one located error, which the HTTP layer renders as
// the 400 envelope.
func FuzzValidateBody(f *testing.F) {
	v, err := NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	ops := v.Operations()
	for i, body := range []string{`{"name":"abc"}`, `{"apiId":"api_12345678"}`, `{"key":"k","tags":["a"]}`,
		`[{"namespace":"n","identifier":"i","limit":1,"duration":1000}]`, `{"keyId":"key_1","operation":"set","value":null}`,
		`{"name":"a\u0000b"}`, `{"name":"\ud800"}`, `{"limit":1e309}`, `{"limit":-0}`, `{"limit":9223372036854775808}`,
		`{"meta":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, "", "{", "null", "\ufeff{}"} {
		f.Add(uint8(i), []byte(body))
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		path := ops[int(op)%len(ops)]
		fail := v.ValidateBody(path, body)
		if fail == nil {
			if !json.Valid(body) {
				t.Fatalf("%s accepted invalid JSON %q", path, body)
			}
			return
		}
		if fail.Detail == "" || len(fail.Errors) == 0 {
			t.Fatalf("%s rejected %q without detail or errors: %+v", path, body, fail)
		}
		for _, e := range fail.Errors {
			if !strings.HasPrefix(e.Location, "/") || e.Message == "" {
				t.Fatalf("%s rejected %q with a malformed error %+v", path, body, e)
			}
		}
	})
}
