package sqlstore

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"
)

// migration is one forward-only schema step. Read-model tables are not here:
// each projection owns and creates its own, so a projection version bump can
// rebuild them without a migration.
type migration struct {
	id       int
	postgres string
	sqlite   string
}

var migrations = []migration{
	{
		id: 1,
		postgres: `CREATE TABLE IF NOT EXISTS events (
			position BIGSERIAL PRIMARY KEY,
			stream_id TEXT NOT NULL,
			stream_version BIGINT NOT NULL,
			name TEXT NOT NULL,
			version INTEGER NOT NULL,
			payload JSONB NOT NULL,
			meta JSONB NOT NULL,
			occurred_at BIGINT NOT NULL,
			UNIQUE (stream_id, stream_version)
		)`,
		sqlite: `CREATE TABLE IF NOT EXISTS events (
			position INTEGER PRIMARY KEY AUTOINCREMENT,
			stream_id TEXT NOT NULL,
			stream_version INTEGER NOT NULL,
			name TEXT NOT NULL,
			version INTEGER NOT NULL,
			payload TEXT NOT NULL,
			meta TEXT NOT NULL,
			occurred_at INTEGER NOT NULL,
			UNIQUE (stream_id, stream_version)
		)`,
	},
	// The credit spend journal: one row per verification that spent
	// credits, written in the same statement (PostgreSQL) or transaction
	// (SQLite) as the balance change and deleted by the append that folds it
	// into key.credits_spent events (docs/ARCHITECTURE.md, "Credits"). It is
	// durable state like the log, not a read model: replay never empties it.
	{
		id: 2,
		postgres: `CREATE TABLE IF NOT EXISTS credit_spends (
			id BIGSERIAL PRIMARY KEY,
			key_id TEXT NOT NULL,
			workspace_id TEXT NOT NULL,
			epoch BIGINT NOT NULL,
			amount BIGINT NOT NULL,
			claim TEXT,
			claimed_at BIGINT
		)`,
		sqlite: `CREATE TABLE IF NOT EXISTS credit_spends (
			id INTEGER PRIMARY KEY,
			key_id TEXT NOT NULL,
			workspace_id TEXT NOT NULL,
			epoch INTEGER NOT NULL,
			amount INTEGER NOT NULL,
			claim TEXT,
			claimed_at INTEGER
		)`,
	},
	// Folds find their rows by claim. Unclaimed rows (every fresh spend)
	// stay out of the index, so the spend's insert does not pay for it.
	{
		id:       3,
		postgres: `CREATE INDEX IF NOT EXISTS credit_spends_claim ON credit_spends (claim) WHERE claim IS NOT NULL`,
		sqlite:   `CREATE INDEX IF NOT EXISTS credit_spends_claim ON credit_spends (claim) WHERE claim IS NOT NULL`,
	},
}

// migrationLockKey serialises schema changes between processes starting at
// the same time (several nodes, or bootstrap beside a server).
const migrationLockKey = 7340580

func migrate(ctx context.Context, db *DB) error {
	return db.Primary.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if db.Kind == configs.KindPostgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", migrationLockKey); err != nil {
				return fmt.Errorf("locking schema: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY)`); err != nil {
			return fmt.Errorf("creating schema_migrations: %w", err)
		}
		for _, m := range migrations {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE id = ?", m.id).Scan(&n); err != nil {
				return fmt.Errorf("reading schema_migrations: %w", err)
			}
			if n > 0 {
				continue
			}
			ddl := m.sqlite
			if db.Kind == configs.KindPostgres {
				ddl = m.postgres
			}
			if _, err := tx.ExecContext(ctx, ddl); err != nil {
				return fmt.Errorf("migration %d: %w", m.id, err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (id) VALUES (?)", m.id); err != nil {
				return fmt.Errorf("recording migration %d: %w", m.id, err)
			}
		}
		return nil
	})
}
