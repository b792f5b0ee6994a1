// Package flatjson reads the one shape of JSON the hot paths receive on
// every request: an object of plain strings, integers, booleans and arrays
// of plain strings, where a plain string is printable ASCII without escapes.
//
// It exists for speed, not generality: encoding/json's reflection and the
// schema validator's generic decode were the largest costs of a
// keys.verifyKey request after the kernel's. Every method answers false on
// anything outside that shape, and its callers then fall back to the
// general path, so what flatjson cannot read costs a little time, never a
// wrong answer.
package flatjson

import "bytes"

// Scanner walks a JSON text from the start.
type Scanner struct {
	b []byte
	i int
}

// New starts a Scanner on b.
func New(b []byte) *Scanner { return &Scanner{b: b} }

// space skips insignificant whitespace.
func (s *Scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Byte consumes c after optional whitespace.
func (s *Scanner) Byte(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// End reports whether only whitespace is left.
func (s *Scanner) End() bool {
	s.space()
	return s.i == len(s.b)
}

// PlainString consumes a string of printable ASCII without escapes, whose
// byte count is therefore its character count. The result aliases the
// input.
func (s *Scanner) PlainString() ([]byte, bool) {
	if !s.Byte('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			out := s.b[start:s.i]
			s.i++
			return out, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// Integer consumes a JSON integer of at most 18 digits (so it cannot
// overflow), without fraction or exponent.
func (s *Scanner) Integer() (int64, bool) {
	s.space()
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	start := s.i
	var n int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int64(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	if digits == 0 || digits > 18 || (digits > 1 && s.b[start] == '0') {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	if neg {
		n = -n
	}
	return n, true
}

// Bool consumes true or false.
func (s *Scanner) Bool() (value, ok bool) {
	s.space()
	switch {
	case bytes.HasPrefix(s.b[s.i:], []byte("true")):
		s.i += 4
		return true, true
	case bytes.HasPrefix(s.b[s.i:], []byte("false")):
		s.i += 5
		return false, true
	}
	return false, false
}

// StringArray consumes an array of plain strings, calling item for each;
// item returning false stops the scan with false.
func (s *Scanner) StringArray(item func([]byte) bool) bool {
	if !s.Byte('[') {
		return false
	}
	if s.Byte(']') {
		return true
	}
	for {
		v, ok := s.PlainString()
		if !ok || !item(v) {
			return false
		}
		if s.Byte(',') {
			continue
		}
		return s.Byte(']')
	}
}

// Object consumes a whole text that is one object, calling member with
// each member's name positioned at its value; member must consume the
// value and return true, or return false to stop with false. Trailing
// data after the object fails too.
func (s *Scanner) Object(member func(name []byte) bool) bool {
	if !s.Byte('{') {
		return false
	}
	if !s.Byte('}') {
		for {
			name, ok := s.PlainString()
			if !ok || !s.Byte(':') || !member(name) {
				return false
			}
			if s.Byte(',') {
				continue
			}
			if s.Byte('}') {
				break
			}
			return false
		}
	}
	return s.End()
}
