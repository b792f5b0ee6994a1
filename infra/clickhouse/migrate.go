package clickhouse

import (
	"context"
	"fmt"
	"time"
)

// migration is one step of the schema. Steps are never edited once released:
// a change is a new step. Every statement is idempotent (IF NOT EXISTS), so a
// step interrupted half-way, or run by two nodes at once, is simply run again.
type migration struct {
	version    uint32
	name       string
	statements []string
	// run is for a step whose statements have no IF NOT EXISTS form on
	// 18.16 (ADD COLUMN): it looks at the schema first, so that it too can
	// simply be run again.
	run func(context.Context, *DB) error
	// needs reports whether the server can run the step; a step it cannot
	// run is skipped and not recorded, so it applies after a server upgrade.
	needs func(Features) bool
}

// Rollup granularities of the materialized views: table suffix and the
// bucket expression over the raw table's Int64 millisecond `time`.
type rollup struct{ suffix, bucketType, bucket string }

var rollups = []rollup{
	{"minute", "DateTime", "toStartOfMinute(toDateTime(intDiv(time, 1000)))"},
	{"hour", "DateTime", "toStartOfHour(toDateTime(intDiv(time, 1000)))"},
	{"day", "Date", "toDate(toDateTime(intDiv(time, 1000)))"},
	{"month", "Date", "toStartOfMonth(toDateTime(intDiv(time, 1000)))"},
}

func verificationRollups() []string {
	var out []string
	for _, r := range rollups {
		table := "key_verifications_per_" + r.suffix + "_v1"
		out = append(out,
			`CREATE TABLE IF NOT EXISTS `+table+` (
				time `+r.bucketType+`, workspace_id String, key_space_id String, key_id String,
				identity_id String, external_id String, outcome String,
				count UInt64, spent_credits Int64, latency_sum Float64
			) ENGINE = SummingMergeTree()
			ORDER BY (workspace_id, key_space_id, time, key_id, identity_id, external_id, outcome)`,
			`CREATE MATERIALIZED VIEW IF NOT EXISTS `+table+`_mv TO `+table+` AS
			SELECT `+r.bucket+` AS time, workspace_id, key_space_id, key_id, identity_id, external_id, outcome,
				count() AS count, sum(spent_credits) AS spent_credits, sum(latency) AS latency_sum
			FROM key_verifications_raw_v1
			GROUP BY time, workspace_id, key_space_id, key_id, identity_id, external_id, outcome`)
	}
	return out
}

func ratelimitRollups() []string {
	var out []string
	for _, r := range rollups {
		table := "ratelimits_per_" + r.suffix + "_v1"
		out = append(out,
			`CREATE TABLE IF NOT EXISTS `+table+` (
				time `+r.bucketType+`, workspace_id String, namespace_id String, identifier String,
				passed UInt64, total UInt64, latency_sum Float64
			) ENGINE = SummingMergeTree()
			ORDER BY (workspace_id, namespace_id, time, identifier)`,
			`CREATE MATERIALIZED VIEW IF NOT EXISTS `+table+`_mv TO `+table+` AS
			SELECT `+r.bucket+` AS time, workspace_id, namespace_id, identifier,
				sum(passed) AS passed, count() AS total, sum(latency) AS latency_sum
			FROM ratelimits_raw_v1
			GROUP BY time, workspace_id, namespace_id, identifier`)
	}
	return out
}

// The raw tables are ReplacingMergeTree keyed by event_id (within the same
// partition and sort prefix, which a repeated event always shares), so a
// repeated insert collapses on merge; queries that must be exact before the
// merge use uniqExact(event_id) or FINAL. The rollups are fed by materialized
// views, which see every insert: the projectors therefore never insert an
// event twice (see Writer), and the raw tables' dedup is the second line.
var migrations = []migration{
	{version: 1, name: "raw verifications and rate limits", statements: []string{
		`CREATE TABLE IF NOT EXISTS key_verifications_raw_v1 (
			event_id String, request_id String, time Int64, workspace_id String, key_space_id String,
			key_id String, identity_id String, external_id String, region String, outcome String,
			tags Array(String), spent_credits Int64, latency Float64
		) ENGINE = ReplacingMergeTree()
		PARTITION BY toYYYYMM(toDateTime(intDiv(time, 1000)))
		ORDER BY (workspace_id, key_space_id, time, event_id)`,
		`CREATE TABLE IF NOT EXISTS ratelimits_raw_v1 (
			event_id String, request_id String, time Int64, workspace_id String, namespace_id String,
			identifier String, region String, passed UInt8, latency Float64
		) ENGINE = ReplacingMergeTree()
		PARTITION BY toYYYYMM(toDateTime(intDiv(time, 1000)))
		ORDER BY (workspace_id, namespace_id, time, event_id)`,
	}},
	{version: 2, name: "verification rollups per minute, hour, day, month", statements: verificationRollups()},
	{version: 3, name: "rate-limit rollups per minute, hour, day, month", statements: ratelimitRollups()},
	{version: 4, name: "audit log", statements: []string{
		`CREATE TABLE IF NOT EXISTS audit_log_v1 (
			position Int64, event_id String, name String, version UInt32, stream_id String,
			stream_version Int64, workspace_id String, actor_id String, request_id String,
			occurred_at Int64, payload String
		) ENGINE = ReplacingMergeTree()
		ORDER BY position`,
	}},
	{version: 5, name: "expire raw rows after 90 days (servers with TTL)", needs: func(f Features) bool { return f.TTL },
		statements: []string{
			`ALTER TABLE key_verifications_raw_v1 MODIFY TTL toDateTime(intDiv(time, 1000)) + INTERVAL 90 DAY`,
			`ALTER TABLE ratelimits_raw_v1 MODIFY TTL toDateTime(intDiv(time, 1000)) + INTERVAL 90 DAY`,
		}},
	{version: 6, name: "batch IDs in the raw tables, one marker row per batch in every rollup", run: addBatchMarkers},
}

// LatestVersion is the highest schema version this build knows.
func LatestVersion() uint32 { return migrations[len(migrations)-1].version }

// Migrate applies the missing steps in order and returns how many it
// applied. It runs at start-up and from `keyline migrate`.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	return db.migrateTo(ctx, LatestVersion())
}

// migrateTo applies the missing steps up to version last; tests use it to
// build a database as an older release left it.
func (db *DB) migrateTo(ctx context.Context, last uint32) (int, error) {
	if err := db.Conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version UInt32, name String, applied_at DateTime
	) ENGINE = ReplacingMergeTree() ORDER BY version`); err != nil {
		return 0, fmt.Errorf("clickhouse: creating schema_migrations: %w", err)
	}
	done, err := db.AppliedVersions(ctx)
	if err != nil {
		return 0, err
	}
	applied := 0
	for _, m := range migrations {
		if m.version > last || done[m.version] || (m.needs != nil && !m.needs(db.Features)) {
			continue
		}
		for _, stmt := range m.statements {
			if err := db.Conn.Exec(ctx, stmt); err != nil {
				return applied, fmt.Errorf("clickhouse: migration %d (%s): %w", m.version, m.name, err)
			}
		}
		if m.run != nil {
			if err := m.run(ctx, db); err != nil {
				return applied, fmt.Errorf("clickhouse: migration %d (%s): %w", m.version, m.name, err)
			}
		}
		batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, applied_at)")
		if err != nil {
			return applied, fmt.Errorf("clickhouse: recording migration %d: %w", m.version, err)
		}
		if err := batch.Append(m.version, m.name, time.Now().UTC().Truncate(time.Second)); err != nil {
			return applied, err
		}
		if err := batch.Send(); err != nil {
			return applied, fmt.Errorf("clickhouse: recording migration %d: %w", m.version, err)
		}
		applied++
	}
	return applied, nil
}

// AppliedVersions returns the recorded schema versions.
func (db *DB) AppliedVersions(ctx context.Context) (map[uint32]bool, error) {
	rows, err := db.Conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("clickhouse: reading schema_migrations: %w", err)
	}
	defer rows.Close()
	out := map[uint32]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out[v] = true
	}
	return out, rows.Err()
}
