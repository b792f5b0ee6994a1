package httpapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var flatBodies = []string{
	`{"key":"sk_1234"}`,
	` { "key" : "a", "tags" : [ "x=1" , "y" ], "permissions":"a AND b", "migrationId":"m1" } `,
	`{"key":"a","tags":[]}`,
	`{"key":"a","key":"b"}`,
	`{"namespace":"api","identifier":"u","limit":10,"duration":60000}`,
	`{"namespace":"api","identifier":"u","limit":10,"duration":60000,"cost":0}`,
	`{"namespace":"api","identifier":"u","limit":-5,"duration":1000,"cost":-0}`,
}

// Bodies the flat decoders pass on: encoding/json reads them instead.
var generalBodies = []string{
	`{"key":"a\u0041"}`,
	`{"key":"ключ"}`,
	`{"key":"a","credits":{"cost":2}}`,
	`{"key":"a","ratelimits":[{"name":"requests"}]}`,
	`{"namespace":"api","identifier":"u","limit":1e3,"duration":60000}`,
	`{"namespace":"api","identifier":"u","limit":10.0,"duration":60000}`,
	`{"key":"a"} x`,
}

// checkFlat decodes body both ways into fresh values of T and fails when
// the flat decoder accepted it but read something else than encoding/json.
func checkFlat[T any, PT interface {
	*T
	flatDecoder
}](t *testing.T, body string) bool {
	var flat, general T
	if !PT(&flat).decodeFlat([]byte(body)) {
		return false
	}
	if err := json.Unmarshal([]byte(body), &general); err != nil {
		t.Fatalf("flat decoder accepted %q, encoding/json: %v", body, err)
	}
	if !reflect.DeepEqual(flat, general) {
		t.Fatalf("%q: flat %+v, encoding/json %+v", body, flat, general)
	}
	return true
}

func TestFlatDecodersMatchEncodingJSON(t *testing.T) {
	for _, b := range flatBodies {
		isVerify := strings.Contains(b, `"key"`)
		if got := checkFlat[verifyKeyBody](t, b); got != isVerify {
			t.Errorf("verifyKey flat decoder on %q: %v, want %v", b, got, isVerify)
		}
		if got := checkFlat[limitRequest](t, b); got == isVerify {
			t.Errorf("ratelimit flat decoder on %q: %v, want %v", b, got, !isVerify)
		}
	}
	for _, b := range generalBodies {
		if checkFlat[verifyKeyBody](t, b) || checkFlat[limitRequest](t, b) {
			t.Errorf("a flat decoder took %q", b)
		}
	}
}

func FuzzFlatDecodersMatchEncodingJSON(f *testing.F) {
	for _, b := range append(flatBodies, generalBodies...) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body string) {
		checkFlat[verifyKeyBody](t, body)
		checkFlat[limitRequest](t, body)
	})
}
