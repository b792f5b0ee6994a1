// Package servicetest gives the tests of handlers/services/* what they run
// against: a real event store with every projection applied inline, on a
// database of the test's own. It is imported by tests only.
package servicetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/testenv"
	"github.com/keyline/keyline/projections"
)

// Store is an event store with every projection, on one database.
type Store struct {
	DB     *sqlstore.DB
	Log    *sqlstore.Store
	Runner *projections.Runner
	Reader *projections.Reader
}

// Open sets up every projection on a fresh database of kind "sqlite" (a file
// in the test's temporary directory) or "postgres" (testenv's fresh
// database), closed when the test ends.
func Open(t testing.TB, kind string) *Store {
	t.Helper()
	primary := "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")
	if kind == "postgres" {
		primary = testenv.FreshPostgresDatabase(t)
	}
	ctx := context.Background()
	db, cleanup, err := sqlstore.Open(ctx, configs.Database{Primary: primary})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	runner := projections.NewRunner(projections.All())
	log := sqlstore.NewStore(db, projections.NewLiveApplier(runner), nil)
	if err := runner.Setup(ctx, log); err != nil {
		t.Fatal(err)
	}
	return &Store{DB: db, Log: log, Runner: runner, Reader: projections.NewReader(db)}
}

// AppendObserved appends evs to stream in workspace ws_1 and hands every
// recorded event to observe, as the commit hook that sqlstore.Tailer.Follow
// registers does in the server.
func (s *Store) AppendObserved(t testing.TB, observe func(events.Recorded), stream string, version int64, evs ...events.Event) {
	t.Helper()
	recs, err := s.Log.Append(context.Background(), stream, version, events.Metadata{WorkspaceID: "ws_1"}, evs...)
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	for _, rec := range recs {
		observe(rec)
	}
}
