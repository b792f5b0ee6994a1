package analytics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/sqlstore"
)

// Record is one analytics record of the local store, at its position.
// Positions are dense: the store numbers records 1, 2, 3, ... in commit
// order without gaps, so a reader that finds the next position missing
// knows exactly how many records retention trimmed before it read them.
type Record struct {
	Position int64
	// Payload is the record's JSON, as on the Redis stream (docs/EVENTS.md).
	Payload string
	// Retry is set on records stored by a retried publish whose first
	// attempt may have been stored too: the same record ID may then be in
	// the store twice, and a reader that must not count it twice checks.
	Retry bool

	// decoded is the record as read from its row, which Event returns
	// without parsing Payload again; bad is why its row could not be read.
	decoded *events.AnalyticsEvent
	bad     error
}

// Event decodes the record.
func (r Record) Event() (events.AnalyticsEvent, error) {
	var ev events.AnalyticsEvent
	var err error
	switch {
	case r.bad != nil:
		err = r.bad
	case r.decoded != nil:
		ev = *r.decoded
	default:
		err = decodeRecord(r.Payload, &ev)
	}
	if err == nil && ev.ID == "" {
		err = errors.New("record without id")
	}
	return ev, err
}

// RecordReader reads the local store by position. It is the stable
// interface every reader of the local records is built on: the ClickHouse
// projector, `keyline consume` and local projections of analytics.
type RecordReader interface {
	// ReadAfter returns up to limit records with a position greater than
	// after, in position order. The first record's position minus after
	// minus one is how many records retention trimmed unread (Gap).
	ReadAfter(ctx context.Context, after int64, limit int) ([]Record, error)
	// Head returns the oldest and newest retained positions (0, 0 when the
	// store is empty).
	Head(ctx context.Context) (first, last int64, err error)
}

// Gap is how many records were trimmed between position after and the
// first of recs, which ReadAfter(after) returned: records the reader never
// saw. Positions are dense, so anything else is retention's doing.
func Gap(after int64, recs []Record) int64 {
	if len(recs) == 0 {
		return 0
	}
	return max(recs[0].Position-after-1, 0)
}

// LocalStore keeps analytics records in the primary database when there is
// no Redis stream to carry them: the embedded default, and PostgreSQL
// without Redis. It holds at most `analytics.retention` records; older ones
// are trimmed as new ones arrive, the same bound MAXLEN gives the Redis
// stream.
//
// A row of the table (analytics_log) holds up to rowRecords records of one
// publish (see appendRow): its last position (seq, the primary key and the
// only index), how many records it holds (n), a retry flag and the
// records. The record ID used to be a UNIQUE column, and maintaining that
// index of random strings was most of the cost of storing a record on
// SQLite; duplicates from a retried publish are flagged instead
// (Record.Retry), as on the Redis stream.
//
// Rows are trimmed whole, so the table may hold up to rowRecords-1 records
// more than the retention. The position retention trimmed through is kept
// in analytics_log_trim, and readers skip the records at or before it
// (logReader): what every reader sees, and what it counts as lost, is
// exactly the bound, wherever rows happen to end.
type LocalStore struct {
	logReader
	db        *sqlstore.DB
	retention int64
	stmts     *stmtCache
	// counts, when set, are the query tables that Publish keeps up to date
	// in its own transaction (see LocalQuery.fold).
	counts *LocalQuery
}

var _ RecordReader = (*LocalStore)(nil)

// localLockKey serialises inserts on PostgreSQL: positions are assigned
// under it (the highest position plus one), so they are dense and commit
// in order, and a reader at "position > N" never skips a late commit (the
// same gap rule as the event log). SQLite has one writer anyway.
const localLockKey = 7340582

// NewLocalStore creates the tables if needed, and rebuilds an analytics_log
// of an earlier layout in the current one.
func NewLocalStore(ctx context.Context, db *sqlstore.DB, retention int64) (*LocalStore, error) {
	l := &LocalStore{logReader: logReader{db: db}, db: db, retention: max(retention, 1), stmts: newStmtCache(db.Primary.DB, db.Kind)}
	// On SQLite only INTEGER PRIMARY KEY names the rowid: a BIGINT key is a
	// second B-tree beside the table, which every record paid for twice.
	seqType, blob, toBlob := "BIGINT", "BYTEA", "convert_to(payload, 'UTF8')"
	if db.Kind == configs.KindSQLite {
		seqType, blob, toBlob = "INTEGER", "BLOB", "CAST(payload AS BLOB)"
	}
	err := db.Primary.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := l.lock(ctx, tx); err != nil {
			return err
		}
		withID, err := l.hasColumn(ctx, tx, "analytics_log", "id")
		if err != nil {
			return err
		}
		typed, err := l.seqType(ctx, tx)
		if err != nil {
			return err
		}
		exists, err := l.hasColumn(ctx, tx, "analytics_log", "seq")
		if err != nil {
			return err
		}
		batched, err := l.hasColumn(ctx, tx, "analytics_log", "n")
		if err != nil {
			return err
		}
		old := withID || (typed != "" && !strings.EqualFold(typed, seqType))
		if old {
			if _, err := tx.ExecContext(ctx, `ALTER TABLE analytics_log RENAME TO analytics_log_old`); err != nil {
				return err
			}
		}
		stmts := []string{
			`CREATE TABLE IF NOT EXISTS analytics_log (seq ` + seqType + ` PRIMARY KEY, n INTEGER NOT NULL DEFAULT 1,
			retry SMALLINT NOT NULL DEFAULT 0, payload ` + blob + ` NOT NULL)`,
			`CREATE TABLE IF NOT EXISTS analytics_log_trim (id INTEGER PRIMARY KEY, through BIGINT NOT NULL)`,
			`INSERT INTO analytics_log_trim (id, through) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`,
			`CREATE TABLE IF NOT EXISTS consumer_offsets (group_name TEXT NOT NULL, source TEXT NOT NULL,
			position BIGINT NOT NULL, PRIMARY KEY (group_name, source))`,
		}
		// Positions are kept, so consumer offsets stay valid. A row of an
		// older layout is one record's JSON, which readers still read.
		switch {
		case withID:
			stmts = append(stmts, `INSERT INTO analytics_log (seq, retry, payload) SELECT seq, 0, `+toBlob+` FROM analytics_log_old`,
				`DROP TABLE analytics_log_old`)
		case old:
			stmts = append(stmts, `INSERT INTO analytics_log (seq, retry, payload) SELECT seq, retry, `+toBlob+` FROM analytics_log_old`,
				`DROP TABLE analytics_log_old`)
		case exists && !batched:
			stmts = append(stmts, `ALTER TABLE analytics_log ADD COLUMN n INTEGER NOT NULL DEFAULT 1`)
			if db.Kind == configs.KindPostgres {
				stmts = append(stmts, `ALTER TABLE analytics_log ALTER COLUMN payload TYPE BYTEA USING `+toBlob)
			}
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("creating the local analytics store: %w", err)
	}
	rows := &localLogRows
	if db.Kind == configs.KindSQLite {
		rows = &localLogRowsSQLite
	}
	if err := l.stmts.prepare(ctx, []string{localLogHead, localLogTrim, localLogTrimmed}, rows); err != nil {
		return nil, fmt.Errorf("creating the local analytics store: %w", err)
	}
	return l, nil
}

// The local store's statements besides its inserts.
const (
	localLogHead    = `SELECT COALESCE(MAX(seq), 0) FROM analytics_log`
	localLogTrim    = `DELETE FROM analytics_log WHERE seq <= ?`
	localLogTrimmed = `UPDATE analytics_log_trim SET through = ? WHERE id = 1 AND through < ?`
	localLogFloor   = `SELECT through FROM analytics_log_trim WHERE id = 1`
)

// CountInto makes Publish add its records to q's tables in the same
// transaction: the records are at hand, encoded and decoded nowhere, and the
// query tables cost no second transaction on the one SQLite writer. q's own
// Run then only catches up on what Publish could not count (records stored
// before, or while q's checkpoint lagged).
func (l *LocalStore) CountInto(q *LocalQuery) { l.counts = q }

func (l *LocalStore) lock(ctx context.Context, tx bun.Tx) error {
	if l.db.Kind != configs.KindPostgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", localLockKey)
	return err
}

func (l *LocalStore) hasColumn(ctx context.Context, tx bun.Tx, table, column string) (bool, error) {
	q := `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`
	if l.db.Kind == configs.KindPostgres {
		q = `SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?`
	}
	var n int
	err := tx.QueryRowContext(ctx, q, table, column).Scan(&n)
	return n > 0, err
}

// seqType is the declared type of analytics_log.seq on SQLite ("" when
// there is no such table, and always on PostgreSQL, whose layout never
// changed type).
func (l *LocalStore) seqType(ctx context.Context, tx bun.Tx) (string, error) {
	if l.db.Kind != configs.KindSQLite {
		return "", nil
	}
	var typed string
	err := tx.QueryRowContext(ctx, `SELECT type FROM pragma_table_info('analytics_log') WHERE name = 'seq'`).Scan(&typed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return typed, err
}

// localLogRows is analytics_log's insert of batch rows. On SQLite it is OR FAIL: a
// statement that may write several rows and abort on a constraint keeps a
// journal of every page it touches, to undo itself alone, and that journal
// was a tenth of storing a record. A failing insert fails the whole
// transaction here anyway.
var (
	localLogRows       = multiRow{prefix: `INSERT INTO analytics_log (seq, n, retry, payload) VALUES `, width: 4}
	localLogRowsSQLite = multiRow{prefix: `INSERT OR FAIL INTO analytics_log (seq, n, retry, payload) VALUES `, width: 4}
)

// Publish stores a batch at the next positions and trims the store to its
// retention, in one transaction, which also counts the batch in the query
// tables when CountInto set them. retry marks the records (see
// Record.Retry).
func (l *LocalStore) Publish(ctx context.Context, evs []events.AnalyticsEvent, retry bool) error {
	if len(evs) == 0 {
		return nil
	}
	flag := 0
	if retry {
		flag = 1
	}
	// Encoded and counted before the transaction: SQLite holds its write
	// lock for the transaction's length, and other writers (the event log)
	// wait on it. Each row's payload is a slice of one buffer.
	nrows := (len(evs) + rowRecords - 1) / rowRecords
	buf := make([]byte, 0, 128*len(evs))
	ends := make([]int, nrows)
	for i := range nrows {
		buf = appendRow(buf, evs[i*rowRecords:min((i+1)*rowRecords, len(evs))])
		ends[i] = len(buf)
	}
	var counts *localCounts
	if l.counts != nil {
		counts = countRecords(evs)
	}
	args := make([]any, 0, 4*nrows)
	folded := false
	err := l.db.Primary.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := l.lock(ctx, tx); err != nil {
			return err
		}
		row, err := l.stmts.queryRow(ctx, tx.Tx, localLogHead)
		if err != nil {
			return err
		}
		var last int64
		if err := row.Scan(&last); err != nil {
			return err
		}
		args, start := args[:0], 0
		for i := range nrows {
			n := min(rowRecords, len(evs)-i*rowRecords)
			args = append(args, last+int64(i*rowRecords+n), n, flag, buf[start:ends[i]:ends[i]])
			start = ends[i]
		}
		// The driver's own parameters (tx.Tx), not bun's formatter,
		// which would print every payload into the SQL text for the
		// database to parse again.
		rows := &localLogRows
		if l.db.Kind == configs.KindSQLite {
			rows = &localLogRowsSQLite
		}
		if err := l.stmts.execRows(ctx, tx.Tx, rows, args); err != nil {
			return fmt.Errorf("storing analytics records: %w", err)
		}
		// Rows whose last record is past the retention go whole.
		if cut := last + int64(len(evs)) - l.retention; cut > 0 {
			if err := l.stmts.exec(ctx, tx.Tx, localLogTrim, cut); err != nil {
				return err
			}
			if err := l.stmts.exec(ctx, tx.Tx, localLogTrimmed, cut, cut); err != nil {
				return err
			}
		}
		if counts != nil {
			folded, err = l.counts.fold(ctx, tx, last, int64(len(evs)), counts)
		}
		return err
	})
	if err == nil && folded {
		l.counts.projected.Add(int64(len(evs)))
	}
	return err
}

// logReader reads analytics_log by position, for every reader of the
// local store. It skips the records retention trimmed but that are still
// stored because their row also holds newer ones (analytics_log_trim), so
// every reader sees exactly the newest records of the retention, whatever
// its own configuration.
type logReader struct {
	db *sqlstore.DB
}

// readRows is how many rows ReadAfter asks for at a time: a row holds up to
// rowRecords records, or one of an older layout.
const readRows = 8

// ReadAfter implements RecordReader. It reads the primary: a replica may lag
// and would make records look missing.
func (r logReader) ReadAfter(ctx context.Context, after int64, limit int) ([]Record, error) {
	limit = max(limit, 1)
	floor, err := r.floor(ctx)
	if err != nil {
		return nil, err
	}
	from := max(after, floor)
	out := make([]Record, 0, min(limit, rowRecords))
	for len(out) < limit {
		rows, err := r.db.Primary.QueryContext(ctx, `SELECT seq, n, retry, payload FROM analytics_log WHERE seq > ? ORDER BY seq LIMIT ?`,
			from, readRows)
		if err != nil {
			return nil, err
		}
		read, err := r.scan(rows, from, limit, &out)
		if err != nil {
			return nil, err
		}
		if read < readRows {
			break
		}
		from = out[len(out)-1].Position
	}
	return out, nil
}

// scan appends the records after position from of rows to out, up to limit
// in all, and reports how many rows it read.
func (r logReader) scan(rows *sql.Rows, from int64, limit int, out *[]Record) (int, error) {
	defer rows.Close()
	read := 0
	for rows.Next() && len(*out) < limit {
		var seq, n int64
		var retry int
		var payload []byte
		if err := rows.Scan(&seq, &n, &retry, &payload); err != nil {
			return 0, err
		}
		read++
		if len(payload) > 0 && payload[0] != rowMagic && n == 1 {
			// One record's JSON, as an older layout stored it.
			if seq > from && len(*out) < limit {
				*out = append(*out, Record{Position: seq, Payload: string(payload), Retry: retry != 0})
			}
			continue
		}
		first := seq - n + 1
		evs, err := decodeRow(payload)
		if err == nil && int64(len(evs)) != n {
			err = fmt.Errorf("%w: %d records, n = %d", errBadRow, len(evs), n)
		}
		for i := range n {
			pos := first + i
			if pos <= from {
				continue
			}
			if len(*out) == limit {
				break
			}
			rec := Record{Position: pos, Retry: retry != 0}
			if err != nil {
				rec.bad = fmt.Errorf("analytics_log row %d: %w", seq, err)
			} else {
				rec.decoded = &evs[i]
				b, jerr := appendRecord(nil, rec.decoded)
				if jerr != nil {
					rec.bad = jerr
				}
				rec.Payload = string(b)
			}
			*out = append(*out, rec)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return read, nil
}

// floor is the position retention trimmed through.
func (r logReader) floor(ctx context.Context) (int64, error) {
	var floor int64
	err := r.db.Primary.QueryRowContext(ctx, localLogFloor).Scan(&floor)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return floor, err
}

// Head implements RecordReader: the positions readers see.
func (r logReader) Head(ctx context.Context) (first, last int64, err error) {
	floor, err := r.floor(ctx)
	if err != nil {
		return 0, 0, err
	}
	if err := r.db.Primary.QueryRowContext(ctx, localLogHead).Scan(&last); err != nil || last == 0 {
		return 0, 0, err
	}
	err = r.db.Primary.QueryRowContext(ctx, `SELECT seq - n + 1 FROM analytics_log ORDER BY seq LIMIT 1`).Scan(&first)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil // trimmed meanwhile
	}
	return max(first, floor+1), last, err
}
