package flatjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
)

// scan reads b as a flat object with the reader each value's first byte
// calls for, and returns the members read (the last one wins, as in
// encoding/json) or false.
func scan(b []byte) (map[string]any, bool) {
	s := New(b)
	out := map[string]any{}
	ok := s.Object(func(name []byte) bool {
		s.space()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case '"':
			v, ok := s.PlainString()
			out[string(name)] = string(v)
			return ok
		case '[':
			items := []any{}
			ok := s.StringArray(func(v []byte) bool {
				items = append(items, string(v))
				return true
			})
			out[string(name)] = items
			return ok
		case 't', 'f':
			v, ok := s.Bool()
			out[string(name)] = v
			return ok
		default:
			v, ok := s.Integer()
			out[string(name)] = v
			return ok
		}
	})
	return out, ok
}

// general decodes b with encoding/json into the same shapes scan builds.
func general(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("flatjson accepted %q, encoding/json: %v", b, err)
	}
	for k, v := range m {
		if n, ok := v.(json.Number); ok {
			i, err := strconv.ParseInt(string(n), 10, 64)
			if err != nil {
				t.Fatalf("flatjson read %q in %q as an integer, encoding/json: %v", n, b, err)
			}
			m[k] = i
		}
	}
	return m
}

var scannerBodies = []string{
	`{}`, ` { } `, `{"a":"b"}`, `{"a":1,"b":-0,"c":true,"d":false,"e":["x","y"],"f":[]}`,
	`{"a":123456789012345678}`, `{"a":"b","a":"c"}`, `{"a":1}x`, `{"a":01}`, `{"a":1.5}`, `{"a":1e3}`,
	`{"a":"\u0041"}`, `{"a":"é"}`, `{"a":["x",1]}`, `{"a":tru}`, `{"a":1234567890123456789}`, `{"a"`, `{"a":`,
	`{"a":-}`, `{"a":"\x00"}`, `{"a":[,]}`, `{"a":1,}`, `[]`, `null`, "",
}

func TestScannerMatchesEncodingJSON(t *testing.T) {
	accepted := 0
	for _, b := range scannerBodies {
		got, ok := scan([]byte(b))
		if !ok {
			continue
		}
		accepted++
		if want := general(t, []byte(b)); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: flatjson %v, encoding/json %v", b, got, want)
		}
	}
	// The first six bodies are flat; none of the others is.
	if accepted != 6 {
		t.Errorf("flatjson accepted %d of the bodies, want 6", accepted)
	}
}

// Whatever the bytes, what the scanner accepts is valid JSON and reads as
// encoding/json reads it.
func FuzzScannerMatchesEncodingJSON(f *testing.F) {
	for _, b := range scannerBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := scan(b)
		if !ok {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("flatjson accepted invalid JSON %q", b)
		}
		if want := general(t, b); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: flatjson %v, encoding/json %v", b, got, want)
		}
	})
}
