package clickhouse_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/clickhouse"
)

// The console's audit reader: one workspace's rows, newest first, from an
// inclusive position on; a position written twice is one row (FINAL); no
// ClickHouse reads as not configured.
func TestAuditReader(t *testing.T) {
	db := openFresh(t)
	ctx := context.Background()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	row := func(pos int64, ws, name string) clickhouse.AuditRow {
		return clickhouse.AuditRow{Position: pos, EventID: "e" + name, Name: name, Version: 1, StreamID: "s-" + name,
			StreamVersion: pos, WorkspaceID: ws, ActorID: "rk_1", RequestID: "req", OccurredAt: 1000 * pos, Payload: `{"n":1}`}
	}
	rows := []clickhouse.AuditRow{row(1, "ws_a", "one"), row(2, "ws_b", "other"), row(3, "ws_a", "three"), row(4, "ws_a", "four")}
	for range 2 { // the projector may write a position twice
		if err := db.WriteAudit(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	r := clickhouse.NewAuditReader(db)
	names := func(recs []events.Recorded) (out []string) {
		for _, rec := range recs {
			out = append(out, rec.Name)
		}
		return out
	}
	newest, err := r.AuditLog(ctx, "ws_a", 0, 2)
	if err != nil || !reflect.DeepEqual(names(newest), []string{"four", "three"}) {
		t.Fatalf("newest two: %v %v", names(newest), err)
	}
	want := events.Recorded{Position: 4, StreamID: "s-four", StreamVersion: 4, Name: "four", Version: 1, Payload: []byte(`{"n":1}`),
		Meta: events.Metadata{WorkspaceID: "ws_a", ActorID: "rk_1", RequestID: "req"}, OccurredAt: time.UnixMilli(4000).UTC()}
	if !reflect.DeepEqual(newest[0], want) {
		t.Fatalf("row %+v, want %+v", newest[0], want)
	}
	older, err := r.AuditLog(ctx, "ws_a", 3, 10)
	if err != nil || !reflect.DeepEqual(names(older), []string{"three", "one"}) {
		t.Fatalf("from 3 on: %v %v", names(older), err)
	}
	if !r.AuditConfigured() || clickhouse.NewAuditReader(nil).AuditConfigured() {
		t.Fatal("configured only with a ClickHouse")
	}
}
