package projections

// isCanonical reports whether raw is exactly what canonicalJSON's decode
// and re-encode would produce: one value, no whitespace, object keys in
// strictly increasing order, strings of printable ASCII that json.Marshal
// leaves unescaped, numbers as written. Most stored metadata already is
// (it was canonicalised on its way in), and checking it costs a fraction of
// the round trip through map[string]any that replay would otherwise pay
// for every key.
func isCanonical(raw []byte) bool {
	end, ok := canonicalValue(raw, 0, 0)
	return ok && end == len(raw)
}

// canonicalDepth bounds the nesting the check follows; deeper values take
// the slow path, which gives the right answer at any depth.
const canonicalDepth = 32

func canonicalValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > canonicalDepth {
		return 0, false
	}
	switch c := b[i]; {
	case c == '{':
		i++
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		var prev []byte
		for first := true; ; first = false {
			start := i
			end, ok := canonicalString(b, i)
			if !ok {
				return 0, false
			}
			key := b[start+1 : end-1]
			if !first && string(key) <= string(prev) {
				return 0, false
			}
			prev = key
			if end >= len(b) || b[end] != ':' {
				return 0, false
			}
			if i, ok = canonicalValue(b, end+1, depth+1); !ok {
				return 0, false
			}
			if next, done, ok := afterMember(b, i, '}'); !ok || done {
				return next, ok
			}
			i++
		}
	case c == '[':
		i++
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = canonicalValue(b, i, depth+1); !ok {
				return 0, false
			}
			if next, done, ok := afterMember(b, i, ']'); !ok || done {
				return next, ok
			}
			i++
		}
	case c == '"':
		return canonicalString(b, i)
	case c == '-' || (c >= '0' && c <= '9'):
		return canonicalNumber(b, i)
	}
	for _, lit := range []string{"true", "false", "null"} {
		if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
			return i + len(lit), true
		}
	}
	return 0, false
}

// afterMember reads what follows a member of an object or array at b[i]:
// its closing bracket (done, next is past it) or a comma (not done).
func afterMember(b []byte, i int, closer byte) (next int, done, ok bool) {
	switch {
	case i < len(b) && b[i] == closer:
		return i + 1, true, true
	case i < len(b) && b[i] == ',':
		return i, false, true
	}
	return 0, false, false
}

// canonicalString accepts a string json.Marshal writes back unchanged:
// printable ASCII without the characters it escapes (quote, backslash and,
// for HTML safety, <, > and &).
func canonicalString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20 || c >= 0x7f || c == '\\' || c == '<' || c == '>' || c == '&':
			return 0, false
		}
	}
	return 0, false
}

// canonicalNumber accepts a JSON number; json.Number keeps its text.
func canonicalNumber(b []byte, i int) (int, bool) {
	digits := func(i int) int {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}
