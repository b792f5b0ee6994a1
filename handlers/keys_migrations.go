package handlers

import (
	"fmt"

	"github.com/keyline/keyline/configs"
)

const migrationNotFoundDetail = "The requested Migration does not exist or has been deleted."

// Migrations are the key migrations this deployment accepts (the config's
// "migrations"). In Unkey a migration is a provider row its team creates
// for one workspace; keyline has no such endpoint, so they are
// configuration, shared by every workspace. A migrationId not listed here
// does not exist: keys.migrateKeys answers 404 and keys.verifyKey NOT_FOUND.
type Migrations struct {
	algorithms map[string]string
}

// NewMigrations indexes cfg.Migrations. configs.Validate already refuses
// duplicates and unknown algorithms; checking again keeps a hand-built
// config from slipping through.
func NewMigrations(cfg *configs.Config) (*Migrations, error) {
	m := &Migrations{algorithms: make(map[string]string, len(cfg.Migrations))}
	for i, mig := range cfg.Migrations {
		if _, dup := m.algorithms[mig.ID]; dup {
			return nil, fmt.Errorf("migrations[%d]: duplicate id %q", i, mig.ID)
		}
		if mig.Algorithm != configs.MigrationPrefixedAPIKey && mig.Algorithm != configs.MigrationSHA256 {
			return nil, fmt.Errorf("migrations[%d] (%s): unknown algorithm %q", i, mig.ID, mig.Algorithm)
		}
		m.algorithms[mig.ID] = mig.Algorithm
	}
	return m, nil
}

// Algorithm returns how keys imported under id are matched, and false when
// no migration id is configured.
func (m *Migrations) Algorithm(id string) (string, bool) {
	a, ok := m.algorithms[id]
	return a, ok
}
