package openapi

import (
	"strings"
	"testing"
)

// A NUL anywhere in a body, member names included, is a 400 naming where it
// is; PostgreSQL refuses it in text and jsonb.
func TestValidateBodyRefusesNUL(t *testing.T) {
	v := newTestValidator(t)
	const nul = `\u0000`
	tests := []struct {
		name, path, body string
		location, fix    string
	}{
		{"api name", "/v2/apis.createApi", `{"name":"a` + nul + `bc"}`,
			"/properties/name", "remove the NUL character from '/name' in the request body"},
		{"key meta value, nested", "/v2/keys.createKey", `{"apiId":"api_1234567","meta":{"a":{"b":["x","y` + nul + `"]}}}`,
			"/properties/meta/properties/a/properties/b/items", "remove the NUL character from '/meta/a/b/1' in the request body"},
		{"key meta member name", "/v2/keys.createKey", `{"apiId":"api_1234567","meta":{"a` + nul + `":1}}`,
			"/properties/meta/propertyNames", `remove the NUL character from the member name '/meta/a\u0000' in the request body`},
		{"ratelimit identifier (a hot-path body)", "/v2/ratelimit.limit", `{"namespace":"api","identifier":"u` + nul + `","limit":10,"duration":60000}`,
			"/properties/identifier", "remove the NUL character from '/identifier' in the request body"},
		{"verifyKey key (a hot-path body)", "/v2/keys.verifyKey", `{"key":"sk_` + nul + `"}`,
			"/properties/key", "remove the NUL character from '/key' in the request body"},
		{"multiLimit item", "/v2/ratelimit.multiLimit", `[{"namespace":"n` + nul + `","identifier":"u","limit":1,"duration":1000}]`,
			"/items/properties/namespace", "remove the NUL character from '/0/namespace' in the request body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := v.ValidateBody(tc.path, []byte(tc.body))
			if f == nil {
				t.Fatalf("%s accepted", tc.body)
			}
			if len(f.Errors) != 1 {
				t.Fatalf("got %+v, want exactly one error", f.Errors)
			}
			e := f.Errors[0]
			if e.Location != tc.location || e.Fix != tc.fix || !strings.Contains(e.Message, "NUL") {
				t.Fatalf("got %+v, want location %s, fix %q", e, tc.location, tc.fix)
			}
		})
	}
	// Both the schema's report and the NUL are listed.
	f := v.ValidateBody("/v2/apis.createApi", []byte(`{"name":"abc`+nul+`","x":1}`))
	if f == nil || len(f.Errors) != 2 || f.Errors[0].Location != "/additionalProperties" || f.Errors[1].Location != "/properties/name" {
		t.Fatalf("got %+v, want the additionalProperties and the NUL errors", f)
	}
	// Other control characters and non-ASCII text are fine.
	for _, body := range []string{`{"name":"tab\there"}`, `{"name":"snow ☃ \u0001"}`} {
		if f := v.ValidateBody("/v2/apis.createApi", []byte(body)); f != nil {
			t.Fatalf("%s refused: %+v", body, f)
		}
	}
}

// The hot paths' shortcut never vouches for a body with a NUL: it takes no
// escapes and no control characters, so such bodies reach the validator.
func TestFlatShortcutRefusesNUL(t *testing.T) {
	v := newTestValidator(t)
	for path, body := range map[string]string{
		"/v2/keys.verifyKey":   `{"key":"sk_\u0000"}`,
		"/v2/ratelimit.limit":  `{"namespace":"api","identifier":"u\u0000","limit":10,"duration":60000}`,
		"/v2/keys.verifyKey#2": "{\"key\":\"sk_\x00\"}",
	} {
		path, _, _ = strings.Cut(path, "#")
		b := v.bodies[path]
		if b.flat == nil {
			t.Fatalf("%s has no shortcut", path)
		}
		if b.flat.accepts([]byte(body)) {
			t.Fatalf("shortcut accepted %q", body)
		}
		if v.ValidateBody(path, []byte(body)) == nil {
			t.Fatalf("validator accepted %q", body)
		}
	}
}

// Integers must fit their int64 fields: the spec's maxima (written as
// 9223372036854776000) let 2^63 through to a decoder that cannot hold it.
func TestValidateBodyInt64Range(t *testing.T) {
	v := newTestValidator(t)
	tests := []struct {
		name, path, body, location string
	}{
		{"credits value 2^63", "/v2/keys.updateCredits", `{"keyId":"key_1234567","operation":"increment","value":9223372036854775808}`,
			"/properties/value/format"},
		{"remaining 2^63", "/v2/keys.createKey", `{"apiId":"api_1234567","credits":{"remaining":9223372036854775808}}`,
			"/properties/remaining/format"},
		{"ratelimit cost 2^63", "/v2/ratelimit.limit", `{"namespace":"api","identifier":"u","limit":10,"duration":60000,"cost":9223372036854775808}`,
			"/properties/cost/format"},
		{"verifyKey ratelimit limit without a format", "/v2/keys.verifyKey", `{"key":"sk_1","ratelimits":[{"name":"abc","limit":10000000000000000000,"duration":1000}]}`,
			"/properties/limit/format"},
		{"override limit -2^63-1", "/v2/ratelimit.setOverride", `{"namespace":"api","identifier":"u","limit":-9223372036854775809,"duration":60000}`,
			"/properties/limit/minimum"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := v.ValidateBody(tc.path, []byte(tc.body))
			if f == nil {
				t.Fatalf("%s accepted", tc.body)
			}
			found := false
			for _, e := range f.Errors {
				found = found || strings.HasSuffix(e.Location, tc.location)
			}
			if !found {
				t.Fatalf("got %+v, want an error at %s", f.Errors, tc.location)
			}
		})
	}
	// MaxInt64 itself is a valid value.
	if f := v.ValidateBody("/v2/keys.updateCredits", []byte(`{"keyId":"key_1234567","operation":"increment","value":9223372036854775807}`)); f != nil {
		t.Fatalf("MaxInt64 refused: %+v", f)
	}
}

// Invalid UTF-8 and unpaired surrogate escapes decode to U+FFFD, but the
// handlers that keep meta as raw bytes would store them, and PostgreSQL's
// jsonb refuses them: they are refused wherever they are, and the field is
// named.
func TestValidateBodyRefusesInvalidText(t *testing.T) {
	v := newTestValidator(t)
	const path = "/v2/keys.createKey"
	refused := []struct {
		name, body, location string
	}{
		{"invalid byte in a meta value", `{"apiId":"api_1234567","meta":{"a":"x` + "\xff" + `"}}`, "/properties/meta/properties/a"},
		{"lone high surrogate", `{"apiId":"api_1234567","meta":{"a":"\ud800x"}}`, "/properties/meta/properties/a"},
		{"lone low surrogate", `{"apiId":"api_1234567","meta":{"a":"\udc00"}}`, "/properties/meta/properties/a"},
		{"high surrogate at the end", `{"apiId":"api_1234567","name":"ab\ud83d"}`, "/properties/name"},
		{"two high surrogates", `{"apiId":"api_1234567","name":"\ud83d\ud83d"}`, "/properties/name"},
		{"in a member name", `{"apiId":"api_1234567","meta":{"\udfff":1}}`, "/properties/meta/propertyNames"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			f := v.ValidateBody(path, []byte(tc.body))
			if f == nil || len(f.Errors) != 1 || f.Errors[0].Location != tc.location || !strings.Contains(f.Errors[0].Message, "UTF-8") {
				t.Fatalf("%q: got %+v, want one UTF-8 error at %s", tc.body, f, tc.location)
			}
		})
	}
	for _, body := range []string{
		`{"apiId":"api_1234567","meta":{"a":"\ud83d\ude00 ☃"}}`, // a valid pair and plain UTF-8
		`{"apiId":"api_1234567","meta":{"a":"\\ud800"}}`,        // an escaped backslash, then text
		`{"apiId":"api_1234567","meta":{"a":"\ufffd"}}`,         // U+FFFD itself is a character
	} {
		if f := v.ValidateBody(path, []byte(body)); f != nil {
			t.Fatalf("%s refused: %+v", body, f)
		}
	}
}
