package openapi

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

func newTestValidator(t testing.TB) *Validator {
	t.Helper()
	v, err := NewValidator()
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	return v
}

// wantSingle asserts f carries exactly one error with the given location and
// message, under the detail Unkey sends for path.
func wantSingle(t *testing.T, path string, f *Failure, location, message string) {
	t.Helper()
	if f == nil {
		t.Fatalf("got nil failure, want %s %q", location, message)
	}
	wantDetail := "POST request body for '" + path + "' failed to validate schema"
	if f.Detail != wantDetail {
		t.Errorf("Detail = %q, want %q", f.Detail, wantDetail)
	}
	if len(f.Errors) != 1 {
		t.Fatalf("got %d errors %+v, want exactly 1", len(f.Errors), f.Errors)
	}
	if got := f.Errors[0]; got.Location != location || got.Message != message {
		t.Errorf("got {%s %q}, want {%s %q}", got.Location, got.Message, location, message)
	}
}

func TestValidateBodyCreateApi(t *testing.T) {
	v := newTestValidator(t)
	const path = "/v2/apis.createApi"

	tests := []struct {
		name     string
		body     string
		location string
		message  string
	}{
		{"name too short", `{"name":"ab"}`,
			"/properties/name/minLength", "minLength: got 2, want 3"},
		{"name too long", `{"name":"` + strings.Repeat("a", 300) + `"}`,
			"/properties/name/maxLength", "maxLength: got 300, want 256"},
		{"name missing", `{}`,
			"/required", "required: missing properties: 'name'"},
		{"unknown property", `{"name":"abc","x":1}`,
			"/additionalProperties", "additionalProperties: additional properties 'x' not allowed"},
		{"unknown properties are listed sorted", `{"zz":1,"name":"abc","aa":2}`,
			"/additionalProperties", "additionalProperties: additional properties 'aa', 'zz' not allowed"},
		{"name not a string", `{"name":5}`,
			"/properties/name/type", "type: got number, want string"},
		{"body not an object", `[]`,
			"/type", "type: got array, want object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantSingle(t, path, v.ValidateBody(path, []byte(tt.body)), tt.location, tt.message)
		})
	}

	if f := v.ValidateBody(path, []byte(`{"name":"valid name"}`)); f != nil {
		t.Errorf("valid body rejected: %+v", f)
	}
}

func TestValidateBodyFix(t *testing.T) {
	v := newTestValidator(t)
	f := v.ValidateBody("/v2/apis.createApi", []byte(`{"name":"ab"}`))
	if f == nil || len(f.Errors) != 1 {
		t.Fatalf("got %+v, want one error", f)
	}
	if want := "correct the value of '/name' in the request body"; f.Errors[0].Fix != want {
		t.Errorf("Fix = %q, want %q", f.Errors[0].Fix, want)
	}
	f = v.ValidateBody("/v2/apis.createApi", []byte(`{}`))
	if f == nil || len(f.Errors) != 1 {
		t.Fatalf("got %+v, want one error", f)
	}
	if want := "add 'name' to the request body"; f.Errors[0].Fix != want {
		t.Errorf("Fix = %q, want %q", f.Errors[0].Fix, want)
	}
}

func TestValidateBodyMalformedJSON(t *testing.T) {
	v := newTestValidator(t)
	const path = "/v2/apis.createApi"
	tests := []struct{ name, body, reason string }{
		{"truncated", `{"name":`, "unexpected end of JSON input"},
		{"empty", ``, "unexpected end of JSON input"},
		{"trailing data", `{"name":"abc"} {}`, "unexpected data after top-level value"},
		{"garbage", `name=abc`, "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := v.ValidateBody(path, []byte(tt.body))
			if f == nil {
				t.Fatal("got nil failure for malformed JSON")
			}
			if f.Detail != "POST request body for '/v2/apis.createApi' failed to validate schema" {
				t.Errorf("Detail = %q", f.Detail)
			}
			if len(f.Errors) != 1 || f.Errors[0].Location != "/" {
				t.Fatalf("got %+v, want one error at /", f.Errors)
			}
			msg := f.Errors[0].Message
			if !strings.HasPrefix(msg, "request body is not valid JSON: "+tt.reason) {
				t.Errorf("Message = %q, want prefix %q", msg, "request body is not valid JSON: "+tt.reason)
			}
		})
	}
}

func TestValidateBodyListKeys(t *testing.T) {
	v := newTestValidator(t)
	const path = "/v2/apis.listKeys"
	wantSingle(t, path, v.ValidateBody(path, []byte(`{"apiId":"api_123","limit":0}`)),
		"/properties/limit/minimum", "minimum: got 0, want 1")
	wantSingle(t, path, v.ValidateBody(path, []byte(`{"apiId":"api_123","limit":101}`)),
		"/properties/limit/maximum", "maximum: got 101, want 100")
	wantSingle(t, path, v.ValidateBody(path, []byte(`{"apiId":"api_123","limit":1.5}`)),
		"/properties/limit/type", "type: got number, want integer")
	// 2^53+1 would round to 2^53 as a float64; the message shows it was
	// checked exactly as sent.
	wantSingle(t, path, v.ValidateBody(path, []byte(`{"apiId":"api_123","limit":9007199254740993}`)),
		"/properties/limit/maximum", "maximum: got 9007199254740993, want 100")
	if f := v.ValidateBody(path, []byte(`{"apiId":"api_123","limit":5}`)); f != nil {
		t.Errorf("valid body rejected: %+v", f)
	}
}

func TestValidateBodyGetApiPattern(t *testing.T) {
	v := newTestValidator(t)
	const path = "/v2/apis.getApi"

	wantSingle(t, path, v.ValidateBody(path, []byte(`{"apiId":"bad api id!"}`)),
		"/properties/apiId/pattern", `pattern: 'bad api id!' does not match pattern '^[a-zA-Z0-9_]+$'`)

	// "bad id!" is also shorter than minLength 8: both keywords are reported,
	// ordered by location.
	f := v.ValidateBody(path, []byte(`{"apiId":"bad id!"}`))
	if f == nil {
		t.Fatal("got nil failure")
	}
	want := []FieldError{
		{Location: "/properties/apiId/minLength", Message: "minLength: got 7, want 8"},
		{Location: "/properties/apiId/pattern", Message: `pattern: 'bad id!' does not match pattern '^[a-zA-Z0-9_]+$'`},
	}
	if len(f.Errors) != len(want) {
		t.Fatalf("got %+v, want %+v", f.Errors, want)
	}
	for i := range want {
		if f.Errors[i].Location != want[i].Location || f.Errors[i].Message != want[i].Message {
			t.Errorf("error %d = {%s %q}, want {%s %q}", i,
				f.Errors[i].Location, f.Errors[i].Message, want[i].Location, want[i].Message)
		}
	}
}

func TestValidateBodyUnknownPath(t *testing.T) {
	v := newTestValidator(t)
	for _, path := range []string{"/v2/liveness", "/v2/deploy.createDeployment", ""} {
		if f := v.ValidateBody(path, []byte(`not json`)); f != nil {
			t.Errorf("ValidateBody(%q) = %+v, want nil for a path without request schema", path, f)
		}
		if v.HasPath(path) {
			t.Errorf("HasPath(%q) = true", path)
		}
	}
}

func TestOperations(t *testing.T) {
	v := newTestValidator(t)
	want := []string{"/v2/analytics.getRatelimits", "/v2/analytics.getVerifications", "/v2/apis.createApi", "/v2/apis.deleteApi", "/v2/apis.getApi", "/v2/apis.listKeys",
		"/v2/identities.createIdentity", "/v2/identities.deleteIdentity", "/v2/identities.getIdentity", "/v2/identities.listIdentities", "/v2/identities.updateIdentity",
		"/v2/keys.addPermissions", "/v2/keys.addRoles", "/v2/keys.createKey", "/v2/keys.deleteKey", "/v2/keys.getKey",
		"/v2/keys.migrateKeys", "/v2/keys.removePermissions", "/v2/keys.removeRoles", "/v2/keys.rerollKey",
		"/v2/keys.setPermissions", "/v2/keys.setRoles", "/v2/keys.updateCredits", "/v2/keys.updateKey",
		"/v2/keys.verifyKey", "/v2/keys.whoami",
		"/v2/permissions.createPermission", "/v2/permissions.createRole", "/v2/permissions.deletePermission", "/v2/permissions.deleteRole", "/v2/permissions.getPermission", "/v2/permissions.getRole", "/v2/permissions.listPermissions", "/v2/permissions.listRoles", "/v2/permissions.setRolePermissions",
		"/v2/portal.createSession", "/v2/portal.exchangeCode", "/v2/portal.getVerifications", "/v2/portal.listKeys", "/v2/portal.rerollKey",
		"/v2/ratelimit.deleteOverride", "/v2/ratelimit.getOverride", "/v2/ratelimit.limit",
		"/v2/ratelimit.listOverrides", "/v2/ratelimit.multiLimit", "/v2/ratelimit.setOverride"}
	got := v.Operations()
	if !slices.Equal(got, want) {
		t.Fatalf("Operations() = %v, want %v", got, want)
	}
	for _, p := range want {
		if !v.HasPath(p) {
			t.Errorf("HasPath(%q) = false", p)
		}
	}
	got[0] = "mutated"
	if v.Operations()[0] != want[0] {
		t.Error("Operations() exposes the validator's internal slice")
	}
}

func TestNewValidatorShared(t *testing.T) {
	a, b := newTestValidator(t), newTestValidator(t)
	if a != b {
		t.Error("NewValidator compiled the schemas again instead of reusing them")
	}
}

func TestValidateBodyConcurrent(t *testing.T) {
	v := newTestValidator(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				body := `{"name":"ab"}`
				if i%2 == 0 {
					body = `{"name":"valid"}`
				}
				f := v.ValidateBody("/v2/apis.createApi", []byte(body))
				if (i%2 == 0) != (f == nil) {
					t.Errorf("unexpected result for %s: %+v", body, f)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestNestedRefLocations: a nested $ref stays in the keyword location, as
// the validator reports it.
func TestNestedRefLocations(t *testing.T) {
	v := newTestValidator(t)
	// Nested $refs stay in the keyword location, as the validator reports it.
	f := v.ValidateBody("/v2/keys.createKey", []byte(`{"apiId":"api_1234567","credits":{"remaining":-1}}`))
	if f == nil || len(f.Errors) != 1 {
		t.Fatalf("got %+v, want one error", f)
	}
	if want := "/properties/credits/$ref/properties/remaining/minimum"; f.Errors[0].Location != want {
		t.Errorf("Location = %q, want %q", f.Errors[0].Location, want)
	}
}

func BenchmarkValidateCreateApi(b *testing.B) {
	v := newTestValidator(b)
	valid := []byte(`{"name":"Payment Service (prod)"}`)
	invalid := []byte(`{"name":"ab"}`)
	b.Run("valid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if f := v.ValidateBody("/v2/apis.createApi", valid); f != nil {
				b.Fatal(f)
			}
		}
	})
	b.Run("invalid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if f := v.ValidateBody("/v2/apis.createApi", invalid); f == nil {
				b.Fatal("want failure")
			}
		}
	})
}

// multiLimit's body is a top-level array of strict items: the validator must
// check the array bounds and every item, not only objects.
func TestMultiLimitArrayBody(t *testing.T) {
	v := newTestValidator(t)
	const path = "/v2/ratelimit.multiLimit"
	item := `{"namespace":"ns","identifier":"u","limit":1,"duration":1000}`
	if f := v.ValidateBody(path, []byte("["+item+"]")); f != nil {
		t.Fatalf("valid array rejected: %+v", f)
	}
	many := "[" + strings.Repeat(item+",", 100) + item + "]"
	cases := map[string]string{
		"[]":                 "/minItems",
		many:                 "/maxItems",
		`{"namespace":"ns"}`: "/type",
		`[{"namespace":"ns","identifier":"u","limit":1,"duration":1000,"x":1}]`: "/additionalProperties",
		`[{"namespace":"ns","identifier":"u","limit":0,"duration":1000}]`:       "/minimum",
	}
	for body, suffix := range cases {
		f := v.ValidateBody(path, []byte(body))
		if f == nil {
			t.Fatalf("%.60s: accepted", body)
		}
		found := false
		for _, e := range f.Errors {
			found = found || strings.HasSuffix(e.Location, suffix)
		}
		if !found {
			t.Errorf("%.60s: no error ending in %s: %+v", body, suffix, f.Errors)
		}
	}
}
