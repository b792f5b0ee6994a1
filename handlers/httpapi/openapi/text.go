package openapi

import (
	"cmp"
	"encoding/json"
	"strconv"
	"strings"
)

// textChecker finds the strings of a decoded body that a store would refuse:
// PostgreSQL rejects NUL in text and jsonb (a C string ends there), and
// invalid UTF-8 or an unpaired surrogate escape in jsonb. Such a string used
// to fail in the store as a 500, or was stored as bytes other readers
// reject; refusing it at validation covers every operation and every nested
// value (meta objects and their member names too) at once.
//
// encoding/json decodes invalid UTF-8 and unpaired surrogates to U+FFFD, so
// the decoded body cannot show them; handlers that keep meta as raw bytes
// would still store them. badUTF8 is whether the raw body holds any; if so,
// the strings holding U+FFFD are the ones reported.
type textChecker struct {
	badUTF8 bool
	out     []FieldError
}

// walk checks v, whose schema-style location is kw (/properties/<name>,
// /items) and whose JSON pointer in the body is inst. It reports whether a
// number of the body is too long to be sure it fits an int64 (more than 18
// digits, or a fraction or exponent).
func (c *textChecker) walk(v any, kw, inst string) (long bool) {
	switch v := v.(type) {
	case json.Number:
		return len(strings.TrimPrefix(string(v), "-")) > 18 || strings.ContainsAny(string(v), ".eE")
	case string:
		if why, fix := c.refuse(v); why != "" {
			c.out = append(c.out, FieldError{Location: cmp.Or(kw, "/"),
				Message: "string: " + why + ", which is not accepted",
				Fix:     fix + instanceName(inst)})
		}
	case map[string]any:
		for name, m := range v {
			tok := jsonPointer([]string{name})
			if why, fix := c.refuse(name); why != "" {
				c.out = append(c.out, FieldError{Location: kw + "/propertyNames",
					Message: "propertyNames: member name " + why + ", which is not accepted",
					Fix:     fix + "the member name " + instanceName(inst+tok)})
			}
			long = c.walk(m, kw+"/properties"+tok, inst+tok) || long
		}
	case []any:
		for i, item := range v {
			long = c.walk(item, kw+"/items", inst+"/"+strconv.Itoa(i)) || long
		}
	}
	return long
}

// refuse says why s is refused and how the fix starts, or "" to accept it.
func (c *textChecker) refuse(s string) (why, fix string) {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return "contains the NUL character (U+0000)", "remove the NUL character from "
	case c.badUTF8 && strings.ContainsRune(s, '\uFFFD'):
		return "contains invalid UTF-8 or an unpaired surrogate escape", "send valid UTF-8 text in "
	}
	return "", ""
}

// errors returns what walk found. A body with bad text that walk could not
// place (it cannot happen: every string is walked) is still refused.
func (c *textChecker) errors() []FieldError {
	if c.badUTF8 && len(c.out) == 0 {
		return []FieldError{{Location: "/", Message: "string: the body is not valid UTF-8, which is not accepted",
			Fix: "send the request body as UTF-8"}}
	}
	return c.out
}

// hasLoneSurrogate reports whether a syntactically valid JSON text holds a
// \u escape of a UTF-16 surrogate that is not part of a high-low pair. In
// valid JSON a backslash only occurs inside strings, as an escape.
func hasLoneSurrogate(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 < len(b) && b[i+1] != 'u' {
			i++ // \" \\ \/ \b ...: skip the escaped character
			continue
		}
		r, ok := hex4(b, i+2)
		switch {
		case !ok:
			return false // not valid JSON after all; the decoder said so
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			lo, ok := rune(0), i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u'
			if ok {
				lo, ok = hex4(b, i+8)
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 11
		default:
			i += 5
		}
	}
	return false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[at:at+4]), 16, 16)
	return rune(n), err == nil
}

// instanceName renders a body location for a fix, with NUL spelled out.
func instanceName(inst string) string {
	if inst == "" {
		return "the request body"
	}
	return "'" + strings.ReplaceAll(inst, "\x00", `\u0000`) + "' in the request body"
}
