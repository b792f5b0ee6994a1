package analytics

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/keyline/keyline/events"
)

// rowCases are records that exercise every field of a batch row: both
// kinds, empty and repeated strings, bytes JSON would escape or refuse, tags
// that repeat other values, and numbers of every sign and size.
func rowCases() []events.AnalyticsEvent {
	v := events.KeyVerified{KeySpaceID: "ks_1", KeyID: "key_1", Outcome: "VALID", SpentCredits: 3, LatencyMs: 0.125}
	r := events.RatelimitDecided{NamespaceID: "rlns_1", Identifier: "user_42", Passed: true, Limit: 10, Remaining: 9, Cost: 1, LatencyMs: 12}
	evs := []events.AnalyticsEvent{
		events.NewKeyVerified(1764201660000, "req_1", "ws_1", "local", v),
		events.NewKeyVerified(1764201659999, "req_2", "ws_1", "local", v),
		events.NewRatelimitDecided(-5, "", "", "", r),
		{ID: "aev_bare"},
	}
	odd := v
	odd.IdentityID, odd.ExternalID, odd.Tags = "id_1", "nul\x00in\xffside", []string{"ws_1", "a=b", "", "ws_1"}
	odd.SpentCredits, odd.LatencyMs = math.MinInt64, math.Copysign(0, -1)
	evs = append(evs, events.NewKeyVerified(math.MaxInt64, "req_\"<&>", "ws_2", "eu\n", odd))
	denied := r
	denied.Passed, denied.Limit, denied.Remaining, denied.Cost, denied.LatencyMs = false, math.MaxInt64, -1, math.MinInt64, math.MaxFloat64
	evs = append(evs, events.NewRatelimitDecided(math.MinInt64, "req_3", "ws_1", "local", denied))
	both := events.NewKeyVerified(7, "req_4", "ws_1", "local", v)
	both.Ratelimit = &denied
	evs = append(evs, both)
	for i := range evs {
		evs[i].ID += "_" + string(rune('a'+i))
	}
	return evs
}

func TestBatchRowRoundTrips(t *testing.T) {
	evs := rowCases()
	row := appendRow([]byte("before"), evs)[len("before"):]
	got, err := decodeRow(row)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, evs) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, evs)
	}
	// The repeated strings are written once: the row is far smaller than
	// the records' JSON.
	many := make([]events.AnalyticsEvent, rowRecords)
	jsonBytes := 0
	for i := range many {
		many[i] = events.NewKeyVerified(1764201660000+int64(i), "req_0123456789abcdef", "ws_0123456789abcdef", "local",
			events.KeyVerified{KeySpaceID: "ks_0123456789abcdef", KeyID: "key_0123456789abcdef", Outcome: "VALID", LatencyMs: 0.1})
		many[i].ID = NewID()
		b, _ := json.Marshal(many[i])
		jsonBytes += len(b)
	}
	row = appendRow(nil, many)
	if per := len(row) / len(many); per > 80 {
		t.Fatalf("%d bytes a record in a row, %d in JSON", per, jsonBytes/len(many))
	}
	if got, err := decodeRow(row); err != nil || !reflect.DeepEqual(got, many) {
		t.Fatalf("a full row does not round-trip (%v)", err)
	}
}

// A row cut short anywhere, or with bytes after its last record, is refused,
// never half read.
func TestBatchRowRefusesDamage(t *testing.T) {
	row := appendRow(nil, rowCases())
	for n := 1; n < len(row); n++ {
		if evs, err := decodeRow(row[:n]); err == nil {
			t.Fatalf("a row cut at %d of %d bytes decoded to %d records", n, len(row), len(evs))
		}
	}
	if _, err := decodeRow(append(append([]byte{}, row...), 0)); err == nil {
		t.Fatal("a row with a trailing byte decoded")
	}
	// A count no payload could hold is refused before anything is allocated.
	if _, err := decodeRow([]byte{rowMagic, 0xff, 0xff, 0xff, 0xff, 0x0f}); err == nil {
		t.Fatal("a row claiming 4 billion records decoded")
	}
}

func FuzzDecodeRow(f *testing.F) {
	f.Add(appendRow(nil, rowCases()))
	f.Add(appendRow(nil, rowCases()[:1]))
	f.Add([]byte(`{"id":"aev_1"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		evs, err := decodeRow(payload)
		if err != nil {
			return
		}
		// Whatever decodes encodes to a row that decodes the same.
		again, err := decodeRow(appendRow(nil, evs))
		if err != nil {
			t.Fatalf("re-encoded row: %v", err)
		}
		for i := range evs {
			if v := evs[i].Verification; v != nil && len(v.Tags) == 0 {
				v.Tags = nil
			}
		}
		if !reflect.DeepEqual(nanFree(again), nanFree(evs)) {
			t.Fatalf("decoded %+v, after a round trip %+v", evs, again)
		}
	})
}

// nanFree replaces NaN latencies, which DeepEqual never finds equal, by a
// marker.
func nanFree(evs []events.AnalyticsEvent) []events.AnalyticsEvent {
	for i := range evs {
		if v := evs[i].Verification; v != nil && math.IsNaN(v.LatencyMs) {
			v.LatencyMs = -42
		}
		if r := evs[i].Ratelimit; r != nil && math.IsNaN(r.LatencyMs) {
			r.LatencyMs = -42
		}
	}
	return evs
}

// What readers get from a batch row is the record as published: Event
// returns it, and Payload is its JSON as the Redis stream carries it.
func TestLocalStoreReadsBatchRowsAsPublished(t *testing.T) {
	for _, kind := range localDatabases {
		t.Run(kind, func(t *testing.T) {
			s := openLocal(t, kind, 1_000_000)
			evs := rowCases()
			if err := s.Publish(context.Background(), evs, true); err != nil {
				t.Fatal(err)
			}
			recs, err := s.ReadAfter(context.Background(), 0, 100)
			if err != nil || len(recs) != len(evs) {
				t.Fatalf("read %d records (%v), want %d", len(recs), err, len(evs))
			}
			for i, r := range recs {
				ev, err := r.Event()
				want, _ := json.Marshal(evs[i])
				if err != nil || !reflect.DeepEqual(ev, evs[i]) || r.Payload != string(want) || r.Position != int64(i+1) || !r.Retry {
					t.Fatalf("record %d: %+v %+v (%v)\nwant %+v, payload %s", i, r, ev, err, evs[i], want)
				}
			}
		})
	}
}

// Rows go whole once their last record is past the retention, but no
// reader sees a record retention trimmed, whatever its own retention: the
// trim point is stored with the rows.
func TestLocalStoreTrimsWholeRowsAndHidesTheRest(t *testing.T) {
	for _, kind := range localDatabases {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			s := openLocal(t, kind, 150)
			ids := storeRecords(t, s, 300, false) // rows of 100: 1..100, 101..200, 201..300
			var rows, stored, oldest int64
			if err := s.db.Primary.QueryRowContext(ctx, `SELECT COUNT(*), SUM(n), MIN(seq - n + 1) FROM analytics_log`).
				Scan(&rows, &stored, &oldest); err != nil {
				t.Fatal(err)
			}
			// Through 150 is trimmed: the first row went, the second stays.
			if rows != 2 || stored != 200 || oldest != 101 {
				t.Fatalf("%d rows holding %d records from %d; want 2 rows, 200 records from 101", rows, stored, oldest)
			}
			other, err := NewLocalStore(ctx, s.db, 1_000_000)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []RecordReader{s, other, logReader{db: s.db}} {
				first, last, err := r.Head(ctx)
				if err != nil || first != 151 || last != 300 {
					t.Fatalf("head %d..%d (%v), want 151..300", first, last, err)
				}
				recs, err := r.ReadAfter(ctx, 120, 1000)
				if err != nil || len(recs) != 150 || Gap(120, recs) != 30 {
					t.Fatalf("read %d records after 120 with a gap of %d (%v); want 150 and 30", len(recs), Gap(120, recs), err)
				}
				if ev, err := recs[0].Event(); err != nil || ev.ID != ids[150] || recs[0].Position != 151 {
					t.Fatalf("first record %d %s (%v), want 151 %s", recs[0].Position, ev.ID, err, ids[150])
				}
				// Reading in small pages inside a row and across rows.
				var paged []Record
				for after := int64(150); ; {
					page, err := r.ReadAfter(ctx, after, 7)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) == 0 {
						break
					}
					paged = append(paged, page...)
					after = page[len(page)-1].Position
				}
				if len(paged) != 150 || paged[0].Position != 151 || paged[149].Position != 300 {
					t.Fatalf("paged read: %d records", len(paged))
				}
			}
		})
	}
}

// A store of the layout before batch rows (one JSON record a row, payload
// TEXT) gains the count column in place; its records stay readable at their
// positions, next to the batch rows written after.
func TestLocalStoreUpgradesTheOneRecordRowLayout(t *testing.T) {
	for _, kind := range localDatabases {
		t.Run(kind, func(t *testing.T) {
			url, seq := localURL(t, kind), "seq INTEGER PRIMARY KEY"
			if kind == "postgres" {
				seq = "seq BIGINT PRIMARY KEY"
			}
			db := openLocalDB(t, url)
			execAll(t, db,
				`CREATE TABLE analytics_log (`+seq+`, retry SMALLINT NOT NULL DEFAULT 0, payload TEXT NOT NULL)`,
				`INSERT INTO analytics_log (seq, retry, payload) VALUES (4, 0, '{"id":"aev_4"}'), (5, 1, '{"id":"aev_5"}')`)
			ctx := context.Background()
			s := openLocalAt(t, url, 100)
			ids := storeRecords(t, s, 3, false)
			recs, err := s.ReadAfter(ctx, 0, 10)
			if err != nil || len(recs) != 5 {
				t.Fatalf("after the upgrade: %+v (%v)", recs, err)
			}
			want := []string{"aev_4", "aev_5", ids[0], ids[1], ids[2]}
			for i, r := range recs {
				ev, err := r.Event()
				if err != nil || ev.ID != want[i] || r.Position != int64(4+i) || r.Retry != (i == 1) {
					t.Fatalf("record %d: %+v %s (%v)", i, r, ev.ID, err)
				}
			}
			if recs[1].Payload != `{"id":"aev_5"}` {
				t.Fatalf("an old row's payload reads %q", recs[1].Payload)
			}
			if first, last, err := s.Head(ctx); err != nil || first != 4 || last != 8 {
				t.Fatalf("head %d..%d (%v)", first, last, err)
			}
		})
	}
}

// A damaged row keeps its positions: readers get its records as
// undecodable (Event fails) and go on to the next row.
func TestLocalStoreReadsPastADamagedRow(t *testing.T) {
	ctx := context.Background()
	s := openLocal(t, "sqlite", 100)
	storeRecords(t, s, 2, false)
	execAll(t, s.db, `INSERT INTO analytics_log (seq, n, retry, payload) VALUES (5, 3, 0, X'01ff')`)
	ids := storeRecords(t, s, 1, false)
	recs, err := s.ReadAfter(ctx, 0, 10)
	if err != nil || len(recs) != 6 || recs[5].Position != 6 {
		t.Fatalf("read %+v (%v)", recs, err)
	}
	for i, r := range recs {
		ev, err := r.Event()
		if damaged := i >= 2 && i < 5; damaged != (err != nil) {
			t.Fatalf("record %d at %d: %v", i, r.Position, err)
		}
		if i == 5 && ev.ID != ids[0] {
			t.Fatalf("the record after the damaged row is %s, want %s", ev.ID, ids[0])
		}
	}
}
