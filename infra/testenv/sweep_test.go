package testenv

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestDatabaseNamesCarryTheirCreationTime(t *testing.T) {
	now := time.Unix(1_790_000_000, 0)
	name := databaseName(now)
	at, ok := createdAt(name)
	if !ok || !at.Equal(now) {
		t.Fatalf("createdAt(%q) = %v, %v; want %v", name, at, ok, now)
	}
	for _, other := range []string{"keyline_test_0123456789abcdef", "keyline_test__ab", "test", "keyline_test_zz!_ab"} {
		if _, ok := createdAt(other); ok {
			t.Errorf("createdAt(%q) claims a time", other)
		}
	}
}

// Only timestamped names older than staleAfter are swept: a running test's
// database and untimestamped names are left alone.
func TestStalePicksOnlyOldTimestampedNames(t *testing.T) {
	now := time.Now()
	old := databaseName(now.Add(-staleAfter - time.Minute))
	fresh := databaseName(now.Add(-time.Minute))
	got := stale([]string{old, fresh, "keyline_test_0123456789abcdef", "postgres"}, now)
	if !slices.Equal(got, []string{old}) {
		t.Fatalf("stale = %v, want [%s]", got, old)
	}
}

// A stale database on the real PostgreSQL is dropped by the next process's
// sweep; a fresh one survives it.
func TestSweepDropsStalePostgresDatabases(t *testing.T) {
	base := PostgresURL(t)
	old := databaseName(time.Now().Add(-staleAfter - time.Minute))
	fresh := databaseName(time.Now())
	for _, n := range []string{old, fresh} {
		if err := pgAdminExec(base, "CREATE DATABASE "+n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pgAdminExec(base, "DROP DATABASE IF EXISTS "+n+" WITH (FORCE)") })
	}
	swept.Delete("postgres " + base) // as if this were a new test process
	sweepPostgres(base)
	conn := connect(t, base)
	for n, want := range map[string]bool{old: false, fresh: true} {
		var exists bool
		if err := conn.QueryRowContext(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", n).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists != want {
			t.Errorf("%s exists = %v after the sweep, want %v", n, exists, want)
		}
	}
}

// The same on the real ClickHouse.
func TestSweepDropsStaleClickHouseDatabases(t *testing.T) {
	base := ClickHouseURL(t)
	old := databaseName(time.Now().Add(-staleAfter - time.Minute))
	fresh := databaseName(time.Now())
	for _, n := range []string{old, fresh} {
		if err := chAdminExec(base, "CREATE DATABASE "+n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = chAdminExec(base, "DROP DATABASE IF EXISTS "+n) })
	}
	swept.Delete("clickhouse " + base)
	sweepClickHouse(base)
	names, err := clickHouseDatabases(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(names, old) || !slices.Contains(names, fresh) {
		t.Fatalf("after the sweep: %v; want %s gone and %s kept", names, old, fresh)
	}
}
