package configs

import (
	"fmt"
	"strings"
)

// DatabaseKind tells which SQL driver a database URL needs.
type DatabaseKind string

const (
	KindPostgres DatabaseKind = "postgres"
	KindSQLite   DatabaseKind = "sqlite"
)

// ParseDatabaseURL splits a configured database URL into the driver kind and
// the DSN that driver expects.
//
// Accepted forms:
//   - postgres://… or postgresql://… — the DSN is raw, unchanged, because
//     the Postgres driver understands the URL itself.
//   - sqlite:PATH — the DSN is everything after "sqlite:" verbatim
//     (./data/keyline.db, /var/lib/k.db, file:x?mode=memory…), so any
//     form the SQLite driver accepts can be passed through.
func ParseDatabaseURL(raw string) (kind DatabaseKind, dsn string, err error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if strings.TrimPrefix(strings.TrimPrefix(raw, "postgresql://"), "postgres://") == "" {
			return "", "", fmt.Errorf("database URL %q has no host or database after the scheme", raw)
		}
		return KindPostgres, raw, nil
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(raw, "sqlite:")
		if path == "" {
			return "", "", fmt.Errorf(`database URL "sqlite:" has no path; want sqlite:PATH`)
		}
		return KindSQLite, path, nil
	case raw == "":
		return "", "", fmt.Errorf("database URL is empty; want postgres://…, postgresql://… or sqlite:PATH")
	default:
		// Only the scheme is echoed: the rest of a URL may hold a password.
		i := strings.IndexByte(raw, ':')
		if i < 0 {
			return "", "", fmt.Errorf("database URL has no scheme; want postgres://…, postgresql://… or sqlite:PATH")
		}
		return "", "", fmt.Errorf("unsupported database URL scheme %q; want postgres://…, postgresql://… or sqlite:PATH", raw[:i])
	}
}

// PrimaryKind returns the driver kind of the primary database, or "" when
// the URL is invalid (Parse has already rejected such configs).
func (d Database) PrimaryKind() DatabaseKind {
	kind, _, _ := ParseDatabaseURL(d.Primary)
	return kind
}
