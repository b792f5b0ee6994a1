package analytics

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/keyline/keyline/events"
)

// decodeRecord decodes one analytics record (the JSON of
// events.AnalyticsEvent, docs/EVENTS.md) into ev, which must be zero.
//
// The projector decodes every record of the stream, tens of thousands a
// second, and encoding/json's reflection was a quarter of its CPU. The
// fast path reads exactly what json.Marshal writes for the record: the
// known fields, plain strings, numbers and booleans, and then copies all
// the record's strings into one allocation (see compact), so it allocates
// only that, the nested structs and the tags. Anything else (an unknown or differently cased key, an escape
// sequence, null, invalid UTF-8, a malformed document) goes to
// json.Unmarshal, so the result and the errors are encoding/json's in every
// case; FuzzDecodeRecord checks that.
func decodeRecord(payload string, ev *events.AnalyticsEvent) error {
	d := recordDecoder{s: payload}
	if d.record(ev) {
		compact(ev)
		return nil
	}
	*ev = events.AnalyticsEvent{}
	return json.Unmarshal([]byte(payload), ev)
}

// compact copies the strings of ev, which the fast path left pointing into
// the payload, into one string of their own. A decoded record waits in its
// batch until the insert; without this it would keep its whole payload
// (about 300 bytes, field names included) alive rather than the ~110 bytes
// of values, and a batch of 50 000 records would hold 10 MB more.
func compact(ev *events.AnalyticsEvent) {
	var ptrs [16]*string
	ps := append(ptrs[:0], &ev.ID, &ev.Name, &ev.RequestID, &ev.WorkspaceID, &ev.Region)
	if v := ev.Verification; v != nil {
		ps = append(ps, &v.KeySpaceID, &v.KeyID, &v.IdentityID, &v.ExternalID, &v.Outcome)
		for i := range v.Tags {
			ps = append(ps, &v.Tags[i])
		}
	}
	if r := ev.Ratelimit; r != nil {
		ps = append(ps, &r.NamespaceID, &r.Identifier)
	}
	n := 0
	for _, p := range ps {
		n += len(*p)
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range ps {
		b.WriteString(*p)
	}
	all := b.String()
	for _, p := range ps {
		l := len(*p)
		*p, all = all[:l], all[l:]
	}
}

// recordDecoder is the fast path of decodeRecord. Its methods report false
// when the input is anything but the plain shape, and never fail otherwise.
type recordDecoder struct {
	s string
	i int
}

func (d *recordDecoder) record(ev *events.AnalyticsEvent) bool {
	ok := d.object(func(key string) bool {
		switch key {
		case "id":
			return d.str(&ev.ID)
		case "name":
			return d.str(&ev.Name)
		case "version":
			var v int64
			if !d.int(&v) {
				return false
			}
			ev.Version = int(v)
			return true
		case "time":
			return d.int(&ev.Time)
		case "requestId":
			return d.str(&ev.RequestID)
		case "workspaceId":
			return d.str(&ev.WorkspaceID)
		case "region":
			return d.str(&ev.Region)
		case "verification":
			if ev.Verification == nil {
				ev.Verification = &events.KeyVerified{}
			}
			return d.verification(ev.Verification)
		case "ratelimit":
			if ev.Ratelimit == nil {
				ev.Ratelimit = &events.RatelimitDecided{}
			}
			return d.ratelimit(ev.Ratelimit)
		}
		return false
	})
	d.space()
	return ok && d.i == len(d.s)
}

func (d *recordDecoder) verification(v *events.KeyVerified) bool {
	return d.object(func(key string) bool {
		switch key {
		case "keySpaceId":
			return d.str(&v.KeySpaceID)
		case "keyId":
			return d.str(&v.KeyID)
		case "identityId":
			return d.str(&v.IdentityID)
		case "externalId":
			return d.str(&v.ExternalID)
		case "outcome":
			return d.str(&v.Outcome)
		case "tags":
			return d.strings(&v.Tags)
		case "spentCredits":
			return d.int(&v.SpentCredits)
		case "latencyMs":
			return d.float(&v.LatencyMs)
		}
		return false
	})
}

func (d *recordDecoder) ratelimit(r *events.RatelimitDecided) bool {
	return d.object(func(key string) bool {
		switch key {
		case "namespaceId":
			return d.str(&r.NamespaceID)
		case "identifier":
			return d.str(&r.Identifier)
		case "passed":
			return d.bool(&r.Passed)
		case "limit":
			return d.int(&r.Limit)
		case "remaining":
			return d.int(&r.Remaining)
		case "cost":
			return d.int(&r.Cost)
		case "latencyMs":
			return d.float(&r.LatencyMs)
		}
		return false
	})
}

func (d *recordDecoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *recordDecoder) next(c byte) bool {
	d.space()
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// object reads {"key": value, ...}, calling field for each key with the
// position on its value.
func (d *recordDecoder) object(field func(key string) bool) bool {
	if !d.next('{') {
		return false
	}
	if d.next('}') {
		return true
	}
	for {
		var key string
		if !d.str(&key) || !d.next(':') || !field(key) {
			return false
		}
		if d.next(',') {
			continue
		}
		return d.next('}')
	}
}

// str reads a string without escapes or control characters, in valid UTF-8.
func (d *recordDecoder) str(out *string) bool {
	if !d.next('"') {
		return false
	}
	start, ascii := d.i, true
	for ; d.i < len(d.s); d.i++ {
		switch c := d.s[d.i]; {
		case c == '"':
			s := d.s[start:d.i]
			d.i++
			if !ascii && !utf8.ValidString(s) {
				return false
			}
			*out = s
			return true
		case c == '\\' || c < 0x20:
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return false
}

func (d *recordDecoder) strings(out *[]string) bool {
	if !d.next('[') {
		return false
	}
	// encoding/json keeps a non-nil empty slice for [], and reuses the
	// slice's storage when the key repeats.
	tags := (*out)[:0]
	if tags == nil {
		tags = []string{}
	}
	if !d.next(']') {
		for {
			var s string
			if !d.str(&s) {
				return false
			}
			tags = append(tags, s)
			if d.next(',') {
				continue
			}
			if !d.next(']') {
				return false
			}
			break
		}
	}
	*out = tags
	return true
}

// number returns the literal of a JSON number (validated by the caller's
// strconv parse, which accepts a superset of JSON's grammar: hence the
// check of the characters here).
func (d *recordDecoder) number() (string, bool) {
	d.space()
	start := d.i
	for d.i < len(d.s) {
		c := d.s[d.i]
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			break
		}
		d.i++
	}
	lit := d.s[start:d.i]
	return lit, validNumber(lit)
}

func (d *recordDecoder) int(out *int64) bool {
	lit, ok := d.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(lit, 10, 64)
	if err != nil {
		return false
	}
	*out = v
	return true
}

func (d *recordDecoder) float(out *float64) bool {
	lit, ok := d.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return false
	}
	*out = v
	return true
}

func (d *recordDecoder) bool(out *bool) bool {
	d.space()
	switch {
	case len(d.s)-d.i >= 4 && d.s[d.i:d.i+4] == "true":
		d.i += 4
		*out = true
	case len(d.s)-d.i >= 5 && d.s[d.i:d.i+5] == "false":
		d.i += 5
		*out = false
	default:
		return false
	}
	return true
}

// validNumber reports whether lit is a number in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(lit string) bool {
	i := 0
	if i < len(lit) && lit[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(lit) && lit[i] >= '0' && lit[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(lit) && lit[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(lit) && lit[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(lit) && (lit[i] == 'e' || lit[i] == 'E') {
		i++
		if i < len(lit) && (lit[i] == '+' || lit[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(lit)
}
