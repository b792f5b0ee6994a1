package analytics

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/keyline/keyline/events"
)

// appendRecord appends the JSON of ev to buf, byte for byte what
// json.Marshal(ev) writes (FuzzAppendRecord checks that).
//
// The sink encodes every record it publishes, and json.Marshal's reflection
// was about 40 % of the publisher's CPU at ingest rates. The fast path
// writes the known fields directly when every string is plain printable
// ASCII without the characters encoding/json escapes (" \ < > &) and every
// float is written in the 'f' format; anything else is left to
// json.Marshal.
func appendRecord(buf []byte, ev *events.AnalyticsEvent) ([]byte, error) {
	if fast, ok := appendRecordFast(buf, ev); ok {
		return fast, nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return buf, err
	}
	return append(buf, b...), nil
}

func appendRecordFast(buf []byte, ev *events.AnalyticsEvent) ([]byte, bool) {
	start := len(buf)
	w := recordWriter{b: buf, ok: true}
	w.raw(`{"id":`)
	w.str(ev.ID)
	w.raw(`,"name":`)
	w.str(ev.Name)
	w.raw(`,"version":`)
	w.int(int64(ev.Version))
	w.raw(`,"time":`)
	w.int(ev.Time)
	w.raw(`,"requestId":`)
	w.str(ev.RequestID)
	w.raw(`,"workspaceId":`)
	w.str(ev.WorkspaceID)
	w.raw(`,"region":`)
	w.str(ev.Region)
	if v := ev.Verification; v != nil {
		w.raw(`,"verification":{"keySpaceId":`)
		w.str(v.KeySpaceID)
		w.raw(`,"keyId":`)
		w.str(v.KeyID)
		if v.IdentityID != "" {
			w.raw(`,"identityId":`)
			w.str(v.IdentityID)
		}
		if v.ExternalID != "" {
			w.raw(`,"externalId":`)
			w.str(v.ExternalID)
		}
		w.raw(`,"outcome":`)
		w.str(v.Outcome)
		if len(v.Tags) > 0 {
			w.raw(`,"tags":[`)
			for i, t := range v.Tags {
				if i > 0 {
					w.raw(",")
				}
				w.str(t)
			}
			w.raw("]")
		}
		w.raw(`,"spentCredits":`)
		w.int(v.SpentCredits)
		w.raw(`,"latencyMs":`)
		w.float(v.LatencyMs)
		w.raw("}")
	}
	if r := ev.Ratelimit; r != nil {
		w.raw(`,"ratelimit":{"namespaceId":`)
		w.str(r.NamespaceID)
		w.raw(`,"identifier":`)
		w.str(r.Identifier)
		w.raw(`,"passed":`)
		w.bool(r.Passed)
		w.raw(`,"limit":`)
		w.int(r.Limit)
		w.raw(`,"remaining":`)
		w.int(r.Remaining)
		w.raw(`,"cost":`)
		w.int(r.Cost)
		w.raw(`,"latencyMs":`)
		w.float(r.LatencyMs)
		w.raw("}")
	}
	w.raw("}")
	if !w.ok {
		return w.b[:start], false
	}
	return w.b, true
}

// recordWriter appends JSON tokens; ok turns false at the first value the
// fast path does not write exactly as encoding/json would.
type recordWriter struct {
	b  []byte
	ok bool
}

func (w *recordWriter) raw(s string) { w.b = append(w.b, s...) }

func (w *recordWriter) str(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			w.ok = false
			return
		}
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, s...)
	w.b = append(w.b, '"')
}

func (w *recordWriter) int(v int64) { w.b = strconv.AppendInt(w.b, v, 10) }

func (w *recordWriter) bool(v bool) { w.b = strconv.AppendBool(w.b, v) }

// float writes f as encoding/json does when it picks the 'f' format (0, or
// 1e-6 <= |f| < 1e21); exponents, NaN and infinities go to json.Marshal.
func (w *recordWriter) float(f float64) {
	if abs := math.Abs(f); math.IsNaN(f) || abs >= 1e21 || (abs != 0 && abs < 1e-6) {
		w.ok = false
		return
	}
	w.b = strconv.AppendFloat(w.b, f, 'f', -1, 64)
}
