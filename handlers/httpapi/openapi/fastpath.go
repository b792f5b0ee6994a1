package openapi

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"

	"github.com/keyline/keyline/handlers/httpapi/flatjson"
)

// flatObject is a request schema reduced to what a single pass over the
// raw bytes can check: an object without additional properties whose
// members are bounded plain strings, arrays of them, bounded integers or
// booleans. keys.verifyKey's and ratelimit.limit's bodies are such objects,
// and they are the bodies the hot paths see on every request.
//
// accepts is a shortcut, never a judge: it returns true only for bodies it
// can prove valid (printable ASCII strings without escapes, no duplicate
// members, no member it does not model), and false for everything else,
// which then goes through the full schema validator. So a body the
// shortcut accepts is one the validator accepts too, and every rejection
// keeps the validator's exact error report.
type flatObject struct {
	members  map[string]flatMember
	required []string
}

type flatMember struct {
	kind memberKind
	// String bounds (of each item, for an array), in characters; max < 0
	// means unbounded.
	minLen, maxLen int
	// Item count bounds of an array; maxItems < 0 means unbounded.
	minItems, maxItems int
	// Integer bounds, inclusive.
	min, max int64
}

type memberKind int

const (
	// complexMember is a member the shortcut does not model (an object, a
	// number, an enum...): its presence sends the body to the validator.
	complexMember memberKind = iota
	stringMember
	stringArrayMember
	integerMember
	booleanMember
)

// annotation reports whether a schema keyword only describes and never
// constrains, so that a schema carrying it can still be flat.
func annotation(k string) bool {
	switch k {
	case "description", "example", "examples", "title", "deprecated", "readOnly", "writeOnly", "$comment", "default":
		return true
	}
	return strings.HasPrefix(k, "x-")
}

// deriveFlat reduces schema (a $ref into doc, or an inline schema) to a
// flatObject, or returns nil when it is not one.
func deriveFlat(doc, schema map[string]any) *flatObject {
	schema = derefSchema(doc, schema)
	if schema == nil || schema["type"] != "object" || schema["additionalProperties"] != false {
		return nil
	}
	for k := range schema {
		switch {
		case k == "type" || k == "additionalProperties" || k == "properties" || k == "required" || annotation(k):
		default:
			return nil
		}
	}
	props := asMap(schema["properties"])
	f := &flatObject{members: make(map[string]flatMember, len(props))}
	for name, p := range props {
		f.members[name] = deriveMember(doc, asMap(p))
	}
	req, _ := schema["required"].([]any)
	for _, r := range req {
		name, ok := r.(string)
		if !ok {
			return nil
		}
		if _, ok := f.members[name]; !ok {
			return nil // required but undeclared: leave it to the validator
		}
		f.required = append(f.required, name)
	}
	return f
}

func derefSchema(doc, schema map[string]any) map[string]any {
	for range 8 {
		ref, ok := schema["$ref"].(string)
		if !ok {
			return schema
		}
		if len(schema) != 1 {
			return nil // siblings of $ref constrain too; not modelled
		}
		_, target, err := resolveLocal(doc, ref)
		if err != nil {
			return nil
		}
		schema = asMap(target)
	}
	return nil
}

func deriveMember(doc, p map[string]any) flatMember {
	unmodelled := flatMember{kind: complexMember}
	p = derefSchema(doc, p)
	if p == nil {
		return unmodelled
	}
	var m flatMember
	var ok bool
	switch p["type"] {
	case "string":
		m, ok = stringBounds(p)
	case "array":
		m, ok = stringArrayBounds(doc, p)
	case "integer":
		m, ok = integerBounds(p)
	case "boolean":
		m, ok = flatMember{kind: booleanMember}, onlyAnnotations(p)
	}
	if !ok {
		return unmodelled
	}
	return m
}

func onlyAnnotations(p map[string]any) bool {
	for k := range p {
		if k != "type" && !annotation(k) {
			return false
		}
	}
	return true
}

// stringBounds reads a string schema with at most length bounds.
func stringBounds(p map[string]any) (flatMember, bool) {
	m := flatMember{kind: stringMember, maxLen: -1}
	if p == nil || p["type"] != "string" {
		return m, false
	}
	for k, v := range p {
		ok := true
		switch {
		case k == "type" || annotation(k):
		case k == "minLength":
			m.minLen, ok = bound(v)
		case k == "maxLength":
			m.maxLen, ok = bound(v)
		default:
			ok = false // pattern, format, enum, const...
		}
		if !ok {
			return m, false
		}
	}
	return m, true
}

// stringArrayBounds reads an array of bounded strings with at most count
// bounds (uniqueItems, for one, is not modelled).
func stringArrayBounds(doc, p map[string]any) (flatMember, bool) {
	m := flatMember{kind: stringArrayMember, maxItems: -1}
	if _, ok := p["items"]; !ok {
		return m, false
	}
	for k, v := range p {
		ok := true
		switch {
		case k == "type" || annotation(k):
		case k == "items":
			var item flatMember
			item, ok = stringBounds(derefSchema(doc, asMap(v)))
			m.minLen, m.maxLen = item.minLen, item.maxLen
		case k == "minItems":
			m.minItems, ok = bound(v)
		case k == "maxItems":
			m.maxItems, ok = bound(v)
		default:
			ok = false
		}
		if !ok {
			return m, false
		}
	}
	return m, true
}

// integerBounds reads an integer schema with at most inclusive bounds; an
// int32 or int64 format narrows them to that range.
func integerBounds(p map[string]any) (flatMember, bool) {
	m := flatMember{kind: integerMember, min: math.MinInt64, max: math.MaxInt64}
	for k, v := range p {
		ok := true
		switch {
		case k == "type" || annotation(k):
		case k == "minimum":
			var n int64
			n, ok = integer(v)
			m.min = max(m.min, n)
		case k == "maximum":
			var n int64
			n, ok = integer(v)
			m.max = min(m.max, n)
		case k == "format" && v == "int64":
		case k == "format" && v == "int32":
			m.min, m.max = max(m.min, math.MinInt32), min(m.max, math.MaxInt32)
		default:
			ok = false // exclusive bounds, multipleOf, enum...
		}
		if !ok {
			return m, false
		}
	}
	return m, true
}

func integer(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func bound(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > 1<<30 {
		return 0, false
	}
	return int(i), true
}

// accepts reports whether body is certainly valid; see flatObject.
func (f *flatObject) accepts(body []byte) bool {
	var seen [8][]byte
	n := 0
	s := flatjson.New(body)
	ok := s.Object(func(name []byte) bool {
		m, ok := f.members[string(name)]
		if !ok || m.kind == complexMember || n == len(seen) {
			return false
		}
		for _, prev := range seen[:n] {
			if bytes.Equal(prev, name) {
				return false
			}
		}
		seen[n] = name
		n++
		return member(s, m)
	})
	if !ok {
		return false
	}
	for _, r := range f.required {
		found := false
		for _, name := range seen[:n] {
			found = found || string(name) == r
		}
		if !found {
			return false
		}
	}
	return true
}

func member(s *flatjson.Scanner, m flatMember) bool {
	switch m.kind {
	case stringMember:
		v, ok := s.PlainString()
		return ok && m.lengthOK(v)
	case stringArrayMember:
		items := 0
		ok := s.StringArray(func(v []byte) bool {
			items++
			return m.lengthOK(v)
		})
		return ok && items >= m.minItems && (m.maxItems < 0 || items <= m.maxItems)
	case integerMember:
		n, ok := s.Integer()
		return ok && n >= m.min && n <= m.max
	case booleanMember:
		_, ok := s.Bool()
		return ok
	}
	return false
}

func (m flatMember) lengthOK(v []byte) bool {
	return len(v) >= m.minLen && (m.maxLen < 0 || len(v) <= m.maxLen)
}
