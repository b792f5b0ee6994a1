package openapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const verifyPath = "/v2/keys.verifyKey"

func TestVerifyKeyBodyIsFlat(t *testing.T) {
	v := newTestValidator(t)
	f := v.bodies[verifyPath].flat
	if f == nil {
		t.Fatal("keys.verifyKey's body schema was not reduced to a flat object")
	}
	want := map[string]flatMember{
		"key":         {kind: stringMember, minLen: 1, maxLen: 512},
		"permissions": {kind: stringMember, minLen: 1, maxLen: 1000},
		"migrationId": {kind: stringMember, minLen: 0, maxLen: 256},
		"tags":        {kind: stringArrayMember, minLen: 1, maxLen: 512, maxItems: 20},
		"credits":     {kind: complexMember},
		"ratelimits":  {kind: complexMember},
	}
	if !reflect.DeepEqual(f.members, want) {
		t.Errorf("members = %+v\nwant %+v", f.members, want)
	}
	if !reflect.DeepEqual(f.required, []string{"key"}) {
		t.Errorf("required = %v, want [key]", f.required)
	}
}

// The shortcut takes the bodies clients send on every request, and leaves
// everything else, valid or not, to the validator, whose report is then
// exactly what it was without the shortcut.
func TestFlatShortcutAcceptsOnlyWhatTheValidatorAccepts(t *testing.T) {
	v := newTestValidator(t)
	b := v.bodies[verifyPath]
	tags20 := `"` + strings.Repeat(`t",  "`, 19) + `t"`
	tests := []struct {
		body      string
		shortcut  bool   // the shortcut accepts it
		violation string // "" when the validator accepts it, else the first error's location
	}{
		{`{"key":"sk_1234abcdef"}`, true, ""},
		{" {\n\t\"key\" : \"a\" ,\"tags\":[\"path=/v1\", \"method=GET\"] }\r\n", true, ""},
		{`{"key":"a","tags":[]}`, true, ""},
		{`{"key":"a","tags":[` + tags20 + `]}`, true, ""},
		{`{"key":"a","permissions":"a.read AND (b OR c)","migrationId":""}`, true, ""},
		{`{"key":"` + strings.Repeat("k", 512) + `"}`, true, ""},
		// Valid, but beyond what the shortcut models: the validator decides.
		{`{"key":"a","credits":{"cost":0}}`, false, ""},
		{`{"key":"a","ratelimits":[{"name":"requests"}]}`, false, ""},
		{`{"key":"ключ"}`, false, ""},
		{`{"key":"a\"b"}`, false, ""},
		{`{"key":"a\u0041"}`, false, ""},
		// Invalid: always the validator's report.
		{`{"key":""}`, false, "/properties/key/minLength"},
		{`{"key":"` + strings.Repeat("k", 513) + `"}`, false, "/properties/key/maxLength"},
		{`{}`, false, "/required"},
		{`{"tags":["a"]}`, false, "/required"},
		{`{"key":"a","tags":[` + tags20 + `,"t"]}`, false, "/properties/tags/maxItems"},
		{`{"key":"a","tags":[""]}`, false, "/properties/tags/items/minLength"},
		{`{"key":"a","permissions":""}`, false, "/properties/permissions/minLength"},
		{`{"key":"a","migrationId":"` + strings.Repeat("m", 257) + `"}`, false, "/properties/migrationId/maxLength"},
		{`{"key":"a","extra":"x"}`, false, "/additionalProperties"},
		{`{"key":1}`, false, "/properties/key/type"},
		{`{"key":"a","tags":"x"}`, false, "/properties/tags/type"},
		{`{"key":"a","tags":["a",]}`, false, "/"},
		{`{"key":"a"} {}`, false, "/"},
		{`{"key":"a",}`, false, "/"},
		{`{"key":"a"`, false, "/"},
		{`["key"]`, false, "/type"},
		{``, false, "/"},
	}
	for _, tc := range tests {
		if got := b.flat.accepts([]byte(tc.body)); got != tc.shortcut {
			t.Errorf("shortcut(%.60q) = %v, want %v", tc.body, got, tc.shortcut)
		}
		f := b.validate([]byte(tc.body))
		switch {
		case tc.violation == "" && f != nil:
			t.Errorf("validator rejected %.60q: %+v", tc.body, f.Errors)
		case tc.violation != "" && (f == nil || f.Errors[0].Location != tc.violation):
			t.Errorf("validator on %.60q: %+v, want a violation at %s", tc.body, f, tc.violation)
		}
		got, want := v.ValidateBody(verifyPath, []byte(tc.body)), f
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ValidateBody(%.60q) = %+v, want the validator's %+v", tc.body, got, want)
		}
	}
}

func TestRatelimitLimitBodyIsFlat(t *testing.T) {
	v := newTestValidator(t)
	const path = "/v2/ratelimit.limit"
	b := v.bodies[path]
	if b.flat == nil {
		t.Fatal("ratelimit.limit's body schema was not reduced to a flat object")
	}
	if got, want := b.flat.members["duration"], (flatMember{kind: integerMember, min: 1000, max: 2592000000}); got != want {
		t.Errorf("duration = %+v, want %+v", got, want)
	}
	const base = `"namespace":"api","identifier":"u1","limit":10,`
	tests := []struct {
		tail      string
		shortcut  bool
		violation string
	}{
		{`"duration":60000}`, true, ""},
		{`"duration":60000,"cost":0}`, true, ""},
		{`"duration":1000,"cost":-0}`, true, ""},
		{`"duration":2592000000}`, true, ""},
		{`"duration":60000.0}`, false, ""},
		{`"duration":6e4}`, false, ""},
		{`"duration":999}`, false, "/properties/duration/minimum"},
		{`"duration":2592000001}`, false, "/properties/duration/maximum"},
		{`"duration":60000,"cost":-1}`, false, "/properties/cost/minimum"},
		{`"duration":060000}`, false, "/"},
		{`"duration":99999999999999999999}`, false, "/properties/duration/maximum"},
		{`"duration":"60000"}`, false, "/properties/duration/type"},
		{`"duration":60000,"cost":true}`, false, "/properties/cost/type"},
	}
	for _, tc := range tests {
		body := []byte("{" + base + tc.tail)
		if got := b.flat.accepts(body); got != tc.shortcut {
			t.Errorf("shortcut(%s) = %v, want %v", body, got, tc.shortcut)
		}
		f := b.validate(body)
		switch {
		case tc.violation == "" && f != nil:
			t.Errorf("validator rejected %s: %+v", body, f.Errors)
		case tc.violation != "" && (f == nil || f.Errors[0].Location != tc.violation):
			t.Errorf("validator on %s: %+v, want a violation at %s", body, f, tc.violation)
		}
	}
	// A boolean member: apis.listKeys' decrypt.
	lk := v.bodies["/v2/apis.listKeys"].flat
	for body, want := range map[string]bool{`{"apiId":"api_1","decrypt":true}`: true,
		`{"apiId":"api_1","decrypt":false}`: true, `{"apiId":"api_1","decrypt":tru}`: false, `{"apiId":"api_1","decrypt":1}`: false} {
		if got := lk.accepts([]byte(body)); got != want {
			t.Errorf("listKeys shortcut(%s) = %v, want %v", body, got, want)
		}
	}
}

// Whatever the bytes, a body the shortcut accepts is valid.
func FuzzFlatShortcutNeverAcceptsInvalid(f *testing.F) {
	for _, s := range []string{`{"key":"a"}`, `{"key":"a","tags":["x","y"]}`, `{"key":"","tags":[]}`,
		`{"key":"a","permissions":"p","migrationId":"m"}`, `{"name":"abc"}`, `{"apiId":"api_1","limit":10}`,
		`{"namespace":"n","identifier":"i","limit":1,"duration":1000,"cost":0}`, `{"apiId":"a","decrypt":true,"limit":5}`} {
		f.Add(s)
	}
	v, err := NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	var flat []*bodySchema
	for _, b := range v.bodies {
		if b.flat != nil {
			flat = append(flat, b)
		}
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, b := range flat {
			if b.flat.accepts([]byte(body)) {
				if fail := b.validate([]byte(body)); fail != nil {
					t.Fatalf("shortcut accepted %q, validator says %+v", body, fail.Errors)
				}
				if !json.Valid([]byte(body)) {
					t.Fatalf("shortcut accepted invalid JSON %q", body)
				}
			}
		}
	})
}
