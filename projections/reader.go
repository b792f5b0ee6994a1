package projections

import (
	"context"
	"database/sql"
	"errors"

	"github.com/uptrace/bun"
)

// Reader runs read-model queries. Reads go to the replica and fall back to
// the primary when the replica has no row yet: it may lag behind a write that
// already answered, and read-your-writes must hold anyway.
type Reader struct {
	Primary bun.IDB
	Replica bun.IDB
}

// Databases hands out the two handles a Reader needs.
type Databases interface {
	PrimaryDB() bun.IDB
	ReplicaDB() bun.IDB
}

// NewReader builds a reader over dbs.
func NewReader(dbs Databases) *Reader {
	replica := dbs.ReplicaDB()
	if replica == nil {
		replica = dbs.PrimaryDB()
	}
	return &Reader{Primary: dbs.PrimaryDB(), Replica: replica}
}

// one runs a single-row query on the replica, then on the primary on a miss.
func (r *Reader) one(ctx context.Context, q func(db bun.IDB) error) error {
	err := q(r.Replica)
	if errors.Is(err, sql.ErrNoRows) && r.Replica != r.Primary {
		err = q(r.Primary)
	}
	return err
}
