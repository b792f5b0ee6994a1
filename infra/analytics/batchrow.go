package analytics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/keyline/keyline/events"
)

// A row of analytics_log holds up to rowRecords consecutive records of one
// publish in a compact binary layout, keyed by its last position. One row
// per record, in JSON, made SQLite insert a B-tree cell and bind three
// parameters for every ~400 bytes of field names and repeated identifiers,
// and that was most of what the embedded default spent on a verification
// beside the HTTP exchange. In a batch row the strings that repeat (the
// workspace, the key, the outcome, the region, the record name) are written
// once and referred to afterwards; only the record's own ID and request ID,
// its time (as a difference) and its numbers are written per record.
//
// Layout (all integers varints, unsigned unless said):
//
//	rowMagic, count, then count records:
//	  flags (1 verification, 2 ratelimit, 4 passed)
//	  lit(ID) ref(Name) signed(Version) signed(Time - previous record's Time)
//	  lit(RequestID) ref(WorkspaceID) ref(Region)
//	  verification: ref(KeySpaceID) ref(KeyID) ref(IdentityID) ref(ExternalID)
//	                ref(Outcome) count ref(Tag)... signed(SpentCredits) f64(LatencyMs)
//	  ratelimit:    ref(NamespaceID) ref(Identifier) signed(Limit) signed(Remaining)
//	                signed(Cost) f64(LatencyMs)
//
// lit is a length and the bytes; ref is 0, a length and the bytes (the
// row's next string number), or the number of an earlier string plus one;
// f64 is the IEEE 754 bits, little-endian. A row whose payload starts with
// '{' instead is one record's JSON, as an older layout stored every record.
const rowMagic = 0x01

// rowRecords bounds a row: a reader that wants a few records of a row
// decodes all of it, and a row of 1,024 records is about 100 KB.
const rowRecords = 1024

const (
	rowVerification = 1 << iota
	rowRatelimit
	rowPassed
)

// appendRow appends evs (at most rowRecords) as one batch row to buf.
func appendRow(buf []byte, evs []events.AnalyticsEvent) []byte {
	w := rowWriter{b: buf, refs: make(map[string]uint64, 16)}
	w.b = append(w.b, rowMagic)
	w.b = binary.AppendUvarint(w.b, uint64(len(evs)))
	var prev int64
	for i := range evs {
		ev := &evs[i]
		var flags uint64
		v, r := ev.Verification, ev.Ratelimit
		if v != nil {
			flags |= rowVerification
		}
		if r != nil {
			flags |= rowRatelimit
			if r.Passed {
				flags |= rowPassed
			}
		}
		w.b = binary.AppendUvarint(w.b, flags)
		w.lit(ev.ID)
		w.ref(ev.Name)
		w.b = binary.AppendVarint(w.b, int64(ev.Version))
		w.b = binary.AppendVarint(w.b, ev.Time-prev)
		prev = ev.Time
		w.lit(ev.RequestID)
		w.ref(ev.WorkspaceID)
		w.ref(ev.Region)
		if v != nil {
			w.ref(v.KeySpaceID)
			w.ref(v.KeyID)
			w.ref(v.IdentityID)
			w.ref(v.ExternalID)
			w.ref(v.Outcome)
			w.b = binary.AppendUvarint(w.b, uint64(len(v.Tags)))
			for _, t := range v.Tags {
				w.ref(t)
			}
			w.b = binary.AppendVarint(w.b, v.SpentCredits)
			w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(v.LatencyMs))
		}
		if r != nil {
			w.ref(r.NamespaceID)
			w.ref(r.Identifier)
			w.b = binary.AppendVarint(w.b, r.Limit)
			w.b = binary.AppendVarint(w.b, r.Remaining)
			w.b = binary.AppendVarint(w.b, r.Cost)
			w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(r.LatencyMs))
		}
	}
	return w.b
}

type rowWriter struct {
	b    []byte
	refs map[string]uint64
}

func (w *rowWriter) lit(s string) {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *rowWriter) ref(s string) {
	if n, ok := w.refs[s]; ok {
		w.b = binary.AppendUvarint(w.b, n+1)
		return
	}
	w.refs[s] = uint64(len(w.refs))
	w.b = append(w.b, 0)
	w.lit(s)
}

var errBadRow = errors.New("malformed analytics_log row")

// decodeRow decodes a batch row's payload into its records (an older row's
// single JSON record is read as it is, by logReader.scan). The records'
// strings share one copy of the payload.
func decodeRow(payload []byte) ([]events.AnalyticsEvent, error) {
	if len(payload) == 0 || payload[0] != rowMagic {
		return nil, errBadRow
	}
	r := rowReader{s: string(payload), i: 1}
	count := r.uvarint()
	// A record takes at least a dozen bytes: a count beyond what the
	// payload can hold is corruption, not an allocation to make.
	if r.err != nil || count > uint64(len(payload)) {
		return nil, errBadRow
	}
	evs := make([]events.AnalyticsEvent, count)
	var prev int64
	for i := range evs {
		ev := &evs[i]
		flags := r.uvarint()
		ev.ID = r.lit()
		ev.Name = r.ref()
		ev.Version = int(r.varint())
		ev.Time = prev + r.varint()
		prev = ev.Time
		ev.RequestID = r.lit()
		ev.WorkspaceID = r.ref()
		ev.Region = r.ref()
		if flags&rowVerification != 0 {
			v := &events.KeyVerified{}
			v.KeySpaceID, v.KeyID, v.IdentityID, v.ExternalID, v.Outcome = r.ref(), r.ref(), r.ref(), r.ref(), r.ref()
			if n := r.uvarint(); n > 0 && n <= uint64(len(r.s)) {
				v.Tags = make([]string, n)
				for j := range v.Tags {
					v.Tags[j] = r.ref()
				}
			} else if n > 0 {
				r.err = errBadRow
			}
			v.SpentCredits = r.varint()
			v.LatencyMs = r.f64()
			ev.Verification = v
		}
		if flags&rowRatelimit != 0 {
			rl := &events.RatelimitDecided{Passed: flags&rowPassed != 0}
			rl.NamespaceID, rl.Identifier = r.ref(), r.ref()
			rl.Limit, rl.Remaining, rl.Cost = r.varint(), r.varint(), r.varint()
			rl.LatencyMs = r.f64()
			ev.Ratelimit = rl
		}
		if r.err != nil {
			return nil, fmt.Errorf("%w: record %d of %d", r.err, i+1, count)
		}
	}
	if r.i != len(r.s) {
		return nil, fmt.Errorf("%w: %d bytes after the last record", errBadRow, len(r.s)-r.i)
	}
	return evs, nil
}

// rowReader reads a batch row; the first malformed value sets err, and
// every read after that returns zero.
type rowReader struct {
	s    string
	i    int
	refs []string
	err  error
}

func (r *rowReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.i >= len(r.s) {
			break
		}
		c := r.s[r.i]
		r.i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	r.err = errBadRow
	return 0
}

func (r *rowReader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *rowReader) lit() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.s)-r.i) {
		r.err = errBadRow
		return ""
	}
	s := r.s[r.i : r.i+int(n)]
	r.i += int(n)
	return s
}

func (r *rowReader) ref() string {
	n := r.uvarint()
	switch {
	case r.err != nil:
		return ""
	case n == 0:
		s := r.lit()
		r.refs = append(r.refs, s)
		return s
	case n <= uint64(len(r.refs)):
		return r.refs[n-1]
	}
	r.err = errBadRow
	return ""
}

func (r *rowReader) f64() float64 {
	if r.err != nil || len(r.s)-r.i < 8 {
		r.err = errBadRow
		return 0
	}
	var bits uint64
	for k := 7; k >= 0; k-- {
		bits = bits<<8 | uint64(r.s[r.i+k])
	}
	r.i += 8
	return math.Float64frombits(bits)
}
