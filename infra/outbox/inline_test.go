package outbox

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/testenv"
)

func TestInlineArgsWritesLiterals(t *testing.T) {
	got, err := inlineArgs(`INSERT INTO "t" (a, b) VALUES ($1,$2,now()),($3,$10,$2)`,
		[]any{"it's", []byte(`{"k":"a\\b"}`), "$1", "", "", "", "", "", "", "ten"})
	if err != nil {
		t.Fatal(err)
	}
	want := `INSERT INTO "t" (a, b) VALUES (E'it''s',E'{"k":"a\\\\b"}',now()),(E'$1',E'ten',E'{"k":"a\\\\b"}')`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	for _, tc := range []struct {
		query string
		args  []any
		why   string
	}{
		{"VALUES ($1)", []any{"a\x00b"}, "NUL"},
		{"VALUES ($1)", []any{string([]byte{0xff, 0xfe})}, "UTF-8"},
		{"VALUES ($1)", []any{42}, "int"},
		{"VALUES ($2)", []any{"a"}, "$2"},
		{"VALUES ($0)", []any{"a"}, "$0"},
	} {
		if _, err := inlineArgs(tc.query, tc.args); err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("inlineArgs(%q, %v) = %v, want an error about %s", tc.query, tc.args, err, tc.why)
		}
	}
}

// What Publish writes inline is, byte for byte once parsed, the message
// watermill's own parameters would have stored, for payloads full of the
// characters a literal must escape.
func TestPublishStoresAwkwardPayloadsExactly(t *testing.T) {
	ctx := context.Background()
	db, cleanup, err := sqlstore.Open(ctx, configs.Database{Primary: testenv.FreshPostgresDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	ob, err := NewPostgres(ctx, db.Primary, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{`quote ' and '' and \' `, `back\slash \\ \n \x00 $1 $$ ?`, "ünïcødé ✓ 𝄞", `"json" {"a":[1,2]}`}
	var recs []events.Recorded
	for i, name := range names {
		payload, err := json.Marshal(events.APICreated{APIID: "api_" + name, WorkspaceID: "ws_1", Name: name})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, events.Recorded{Position: int64(i + 1), StreamID: "api_" + name, StreamVersion: 1,
			Name: "api.created", Version: 1, Payload: payload, Meta: events.Metadata{RequestID: name},
			OccurredAt: time.UnixMilli(1700000000000)})
	}
	// Both ways a transaction may run: statements sent at once, and held
	// back for the COMMIT.
	for _, c := range []context.Context{ctx, sqlstore.DeferWrites(ctx)} {
		if _, err := db.Primary.ExecContext(ctx, `DELETE FROM "watermill_keyline_events"`); err != nil {
			t.Fatal(err)
		}
		if err := db.Primary.RunInTx(c, nil, func(ctx context.Context, tx bun.Tx) error {
			return ob.Publish(ctx, tx, recs)
		}); err != nil {
			t.Fatal(err)
		}
		rows, err := db.Primary.QueryContext(ctx, `SELECT uuid, payload::text FROM "watermill_keyline_events" ORDER BY "offset"`)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for rows.Next() {
			var uuid, payload string
			if err := rows.Scan(&uuid, &payload); err != nil {
				t.Fatal(err)
			}
			want, err := ToMessage(recs[n])
			if err != nil {
				t.Fatal(err)
			}
			if uuid != want.UUID || payload != string(want.Payload) {
				t.Fatalf("row %d: %s %s\nwant %s %s", n, uuid, payload, want.UUID, want.Payload)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if n != len(recs) {
			t.Fatalf("%d rows, want %d", n, len(recs))
		}
	}
}
