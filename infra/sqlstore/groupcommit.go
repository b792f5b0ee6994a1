package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
)

// Group commit. Every Append of a store goes through one appender, which
// takes everything that waits at that moment (up to maxGroupCommands and
// maxGroupEvents) and commits it in one transaction: one lock, one version
// query, one multi-row INSERT, one pass of the inline projections, one
// outbox publish, one commit (one fsync on PostgreSQL). While that
// transaction runs the next group queues up, so under load the groups grow
// by themselves and an idle store commits a lone append at once: nothing
// ever waits for a group to fill.
//
// Positions are drawn by the appender, head+1 onwards, under the append
// lock: they are gap-free and commit in order, which the tailer and every
// "position > checkpoint" reader rely on. A command whose stream moved
// (version conflict), or whose events a projection refuses, fails alone:
// the version check is done in memory before anything is written (so
// commands of one group on one stream see each other in order), and a
// failing projection makes the appender roll the group back and run it
// again with a SAVEPOINT around each command, leaving the failing one out.
const (
	maxGroupCommands = 256
	maxGroupEvents   = 2048
	// insertChunk bounds the rows of one INSERT statement.
	insertChunk = 500
	// groupTimeout bounds one group's transaction. The group runs on a
	// context of its own (a caller leaving must not roll back the others),
	// so this is what ends a transaction stuck on a dead database.
	groupTimeout = time.Minute
)

// command is one Append waiting for, or inside, a group.
type command struct {
	ctx      context.Context
	streamID string
	expected int64
	meta     events.Metadata
	metaJSON string
	evs      []events.Event
	payloads []string
	occurred int64
	enqueued time.Time

	state atomic.Int32 // cmdWaiting, cmdClaimed or cmdWithdrawn
	recs  []events.Recorded
	err   error
	done  chan struct{}
}

const (
	cmdWaiting int32 = iota
	cmdClaimed
	cmdWithdrawn
)

// appender is the queue of a store's waiting appends and the counters of
// what it committed.
type appender struct {
	mu      sync.Mutex
	queue   []*command
	running bool // a drain goroutine is on the queue

	// headAfter is one more than the log's head as this process's last
	// group left it, 0 when that is not known; guessAfter (Unix ns) delays
	// guessing after a wrong guess. See groupGuessed.
	headAfter, guessAfter atomic.Int64

	groups, commands    atomic.Int64 // committed transactions, and the appends they held
	guessed, misguessed atomic.Int64 // groups committed on a guess, and wrong guesses
}

// AppendStats counts what the group commit of this process did.
type AppendStats struct {
	// Commits is the number of transactions that committed appends.
	Commits int64
	// Appends is the number of appends they committed: Appends / Commits
	// is the mean group size.
	Appends int64
	// Guessed is how many of the commits read nothing first (PostgreSQL:
	// the head guessed, see groupGuessed); WrongGuesses is how many
	// groups ran again because the guess was refused.
	Guessed, WrongGuesses int64
}

// AppendStats returns the counters of the store's group commit.
func (s *Store) AppendStats() AppendStats {
	a := &s.appender
	return AppendStats{Commits: a.groups.Load(), Appends: a.commands.Load(),
		Guessed: a.guessed.Load(), WrongGuesses: a.misguessed.Load()}
}

// Pending is the number of appends waiting for the next group.
func (s *Store) Pending() int {
	s.appender.mu.Lock()
	defer s.appender.mu.Unlock()
	return len(s.appender.queue)
}

// submit queues c and waits for its outcome. The drain goroutine exists
// only while there is work: the first append after a quiet moment starts
// it, and it ends when it finds the queue empty, so a store needs no Close.
func (s *Store) submit(c *command) ([]events.Recorded, error) {
	a := &s.appender
	a.mu.Lock()
	a.queue = append(a.queue, c)
	if !a.running {
		a.running = true
		go s.drain()
	}
	a.mu.Unlock()
	select {
	case <-c.done:
		return c.recs, c.err
	case <-c.ctx.Done():
		if c.state.CompareAndSwap(cmdWaiting, cmdWithdrawn) {
			// Not in a group yet: it never will be, nothing was written.
			s.observe(c, c.ctx.Err())
			return nil, c.ctx.Err()
		}
		// Its group has started and goes on without this caller.
		return nil, c.ctx.Err()
	}
}

// drain commits groups until the queue is empty.
func (s *Store) drain() {
	a := &s.appender
	for {
		a.mu.Lock()
		n, evs := 0, 0
		for n < len(a.queue) && n < maxGroupCommands && (n == 0 || evs+len(a.queue[n].evs) <= maxGroupEvents) {
			evs += len(a.queue[n].evs)
			n++
		}
		if n == 0 {
			a.running = false
			a.mu.Unlock()
			return
		}
		taken := make([]*command, n)
		copy(taken, a.queue)
		a.queue = a.queue[n:]
		if len(a.queue) == 0 {
			a.queue = nil // let the backing array go
		}
		a.mu.Unlock()
		group := taken[:0]
		for _, c := range taken {
			if c.state.CompareAndSwap(cmdWaiting, cmdClaimed) {
				group = append(group, c)
			}
		}
		if len(group) > 0 {
			s.commitGroup(group)
		}
	}
}

// errIsolate asks for the group to run again with each command on its own
// savepoint: something one of them holds failed, and which is not known.
var errIsolate = errors.New("a command of the group failed")

// errOneFailed rolls back a group whose only accepted command failed; that
// command carries its own error.
var errOneFailed = errors.New("the group's one command failed")

// commitGroup commits group in one transaction and answers each command.
func (s *Store) commitGroup(group []*command) {
	// The group runs in the first command's context (its trace), without
	// its cancellation: one caller leaving must not roll back the others.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), groupTimeout)
	defer cancel()
	mode := s.appender.firstMode(s.db.Kind, time.Now())
	err := s.runGroup(ctx, group, mode)
	if mode == groupGuessed && (refusedDeferred(err) || errors.Is(err, errIsolate) || errors.Is(err, errOneFailed)) {
		// The guess may have been wrong (another process appended, or a
		// command's stream moved): decide again on what the log holds.
		s.appender.pauseGuessing(time.Now())
		s.appender.misguessed.Add(1)
		mode = groupPipelined
		err = s.runGroup(ctx, group, mode)
	}
	if errors.Is(err, errIsolate) || refusedDeferred(err) {
		mode = groupIsolated
		err = s.runGroup(ctx, group, mode)
	}
	committed := 0
	switch {
	case err == nil:
		for _, c := range group {
			if c.err == nil {
				committed++
			}
		}
	case errors.Is(err, errOneFailed):
		// Nothing committed; every command carries its own error.
	default:
		for _, c := range group {
			if c.err == nil || !errors.Is(c.err, events.ErrVersionConflict) {
				c.recs, c.err = nil, err
			}
		}
	}
	if committed > 0 {
		s.appender.groups.Add(1)
		s.appender.commands.Add(int64(committed))
		if mode == groupGuessed {
			s.appender.guessed.Add(1)
		}
	}
	s.mu.RLock()
	hooks := s.committed
	s.mu.RUnlock()
	for _, c := range group {
		s.observe(c, c.err)
		if c.err == nil {
			for _, fn := range hooks {
				fn(c.recs)
			}
		} else {
			c.recs = nil
		}
		close(c.done)
	}
}

// observe hands one append's outcome to the ObserveAppends functions.
func (s *Store) observe(c *command, err error) {
	s.mu.RLock()
	observers := s.observers
	s.mu.RUnlock()
	for _, fn := range observers {
		fn(time.Since(c.enqueued), len(c.evs), err)
	}
}

// groupMode is how runGroup learns the log's head and the streams'
// versions, and how it writes.
type groupMode int

const (
	// groupPipelined reads the head and versions in the transaction; on
	// PostgreSQL the writes then travel with the COMMIT (DeferWrites).
	groupPipelined groupMode = iota
	// groupGuessed (PostgreSQL) reads nothing: the head is the one this
	// process committed last and each stream is where its first command
	// expects it, so the whole transaction, lock and COMMIT included, is
	// one round trip. A wrong guess cannot commit: a statement held back
	// with the writes divides by zero unless the head is the guessed one,
	// and the next version of a moved stream already exists (UNIQUE
	// (stream_id, stream_version)); the server refuses the group and
	// commitGroup runs it again pipelined.
	groupGuessed
	// groupIsolated reads like groupPipelined and writes each command
	// inside a savepoint of its own.
	groupIsolated
)

// guessPause is how long a wrong guess keeps the appender reading the head
// again: another process appending steadily would otherwise make every
// other group run twice.
const guessPause = time.Second

// firstMode is the mode a group starts in: guessed when this process knows
// the head (it committed the last group itself) and no guess failed lately.
func (a *appender) firstMode(kind configs.DatabaseKind, now time.Time) groupMode {
	if kind != configs.KindPostgres || a.headAfter.Load() == 0 || now.UnixNano() < a.guessAfter.Load() {
		return groupPipelined
	}
	return groupGuessed
}

// pauseGuessing forgets the head and reads it for guessPause.
func (a *appender) pauseGuessing(now time.Time) {
	a.headAfter.Store(0)
	a.guessAfter.Store(now.Add(guessPause).UnixNano())
}

// runGroup is one transaction over group. Commands that fail alone get
// their error in c.err; the returned error concerns the whole group (and
// then nothing committed). Isolated, each accepted command's events are
// inserted and projected inside a savepoint of their own. Otherwise, on
// PostgreSQL, the group's writes travel with its COMMIT (DeferWrites): a
// statement the server refuses then fails the whole group with a
// DeferredError, and commitGroup runs it again (see groupMode).
func (s *Store) runGroup(ctx context.Context, group []*command, mode groupMode) error {
	isolate := mode == groupIsolated
	pipelined := !isolate && s.db.Kind == configs.KindPostgres
	if pipelined {
		ctx = DeferWrites(ctx)
	}
	var final int64 // the head after the group, once it is known
	err := s.appendTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var (
			head     int64
			versions map[string]int64
			err      error
		)
		if mode == groupGuessed {
			head, versions = s.appender.headAfter.Load()-1, guessedVersions(group)
			// Held back like the writes: the transaction fails unless the
			// head is the guessed one. The primary key would refuse most
			// wrong guesses anyway; this one does not depend on positions
			// being gap-free.
			if _, err := tx.ExecContext(ctx, "SELECT 1 / (COALESCE(MAX(position), 0) = ?)::int FROM events", head); err != nil {
				return fmt.Errorf("checking the head: %w", err)
			}
		} else if head, versions, err = s.heads(ctx, tx, group); err != nil {
			return err
		}
		defer func() { final = head }()
		var recs []events.Recorded
		var metas []string // recs' metadata, encoded
		accepted := 0
		var first *command
		for _, c := range group {
			c.recs, c.err = nil, nil
			if versions[c.streamID] != c.expected {
				c.err = events.ErrVersionConflict
				continue
			}
			c.recs = c.record(head)
			if isolate {
				if err := s.writeIsolated(ctx, tx, c.recs, c.metas()); err != nil {
					var fatal fatalError
					if errors.As(err, &fatal) {
						return fatal.err
					}
					c.recs, c.err = nil, err
					continue
				}
			}
			head += int64(len(c.recs))
			versions[c.streamID] = c.expected + int64(len(c.recs))
			recs = append(recs, c.recs...)
			metas = append(metas, c.metas()...)
			if accepted++; first == nil {
				first = c
			}
		}
		if len(recs) == 0 {
			return nil
		}
		if !isolate {
			if err := s.write(ctx, tx, recs, metas, pipelined); err != nil {
				if refusedDeferred(err) {
					return err
				}
				if accepted > 1 {
					return errIsolate
				}
				first.recs, first.err = nil, err
				return errOneFailed
			}
		}
		if s.outbox != nil {
			if err := s.outbox.Publish(ctx, tx, recs); err != nil {
				return fmt.Errorf("publishing to the outbox: %w", err)
			}
		}
		return nil
	})
	// Whatever failed, the head is not known for sure (a COMMIT lost on
	// the network may have committed): the next group reads it.
	if err != nil {
		s.appender.headAfter.Store(0)
	} else {
		s.appender.headAfter.Store(final + 1)
	}
	return err
}

// guessedVersions takes each stream of group to be where its first command
// expects it.
func guessedVersions(group []*command) map[string]int64 {
	versions := make(map[string]int64, len(group))
	for _, c := range group {
		if _, ok := versions[c.streamID]; !ok {
			versions[c.streamID] = c.expected
		}
	}
	return versions
}

// record assigns c's events their positions after head and their stream
// versions after c.expected.
func (c *command) record(head int64) []events.Recorded {
	recs := make([]events.Recorded, len(c.evs))
	at := time.UnixMilli(c.occurred)
	for i, e := range c.evs {
		recs[i] = events.Recorded{
			Position:      head + int64(i) + 1,
			StreamID:      c.streamID,
			StreamVersion: c.expected + int64(i) + 1,
			Name:          e.EventName(),
			Version:       e.EventVersion(),
			Payload:       []byte(c.payloads[i]),
			Meta:          c.meta,
			OccurredAt:    at,
		}
	}
	return recs
}

// metas is the encoded metadata of each of c's events.
func (c *command) metas() []string {
	out := make([]string, len(c.evs))
	for i := range out {
		out[i] = c.metaJSON
	}
	return out
}

// newApplier is an Applier that can also apply without reading anything
// first, for events it is told are new (projections.Runner.ApplyNew).
type newApplier interface {
	ApplyNew(ctx context.Context, tx bun.Tx, recs []events.Recorded) error
}

// refusedDeferred reports whether err is the server refusing a statement
// that was held back (DeferWrites): the group can run again isolated. A
// deferred COMMIT lost on the network is not one: whether it committed is
// not known, so it is not tried again.
func refusedDeferred(err error) bool {
	var de *DeferredError
	var pe *pgconn.PgError
	return errors.As(err, &de) && errors.As(de.Err, &pe)
}

// fatalError is a failure of the transaction itself (a savepoint that
// cannot be rolled back to), as opposed to one command's.
type fatalError struct{ err error }

func (f fatalError) Error() string { return f.err.Error() }

// writeIsolated inserts and projects one command's events inside a
// savepoint; on failure the savepoint is rolled back and the transaction
// goes on without them.
func (s *Store) writeIsolated(ctx context.Context, tx bun.Tx, recs []events.Recorded, metas []string) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT append_command"); err != nil {
		return fatalError{fmt.Errorf("savepoint: %w", err)}
	}
	if err := s.write(ctx, tx, recs, metas, false); err != nil {
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT append_command"); rerr != nil {
			return fatalError{fmt.Errorf("rolling back to savepoint after %v: %w", err, rerr)}
		}
		return err
	}
	if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT append_command"); err != nil {
		return fatalError{fmt.Errorf("releasing savepoint: %w", err)}
	}
	return nil
}

// write inserts recs (metas: their metadata, encoded) and applies the
// inline projections to them; pipelined, without reading the projections'
// checkpoints first when the applier can (newApplier).
func (s *Store) write(ctx context.Context, tx bun.Tx, recs []events.Recorded, metas []string, pipelined bool) error {
	if err := s.insert(ctx, tx, recs, metas); err != nil {
		return err
	}
	if s.applier != nil {
		if err := s.apply(ctx, tx, recs, pipelined); err != nil {
			return fmt.Errorf("projecting %s: %w", recs[0].StreamID, err)
		}
	}
	return nil
}

// heads reads, in one statement, the log's head position and the current
// version of every stream group appends to (0 for a new stream).
func (s *Store) heads(ctx context.Context, tx bun.Tx, group []*command) (int64, map[string]int64, error) {
	versions := make(map[string]int64, len(group))
	ids := make([]string, 0, len(group))
	for _, c := range group {
		if _, ok := versions[c.streamID]; !ok {
			versions[c.streamID] = 0
			ids = append(ids, c.streamID)
		}
	}
	rows, kept, err := s.headsKept(ctx, ids) // SQLite: appendconn.go
	if !kept {
		rows, err = tx.QueryContext(ctx,
			`SELECT 0, '', COALESCE(MAX(position), 0) FROM events
		 UNION ALL
		 SELECT 1, stream_id, MAX(stream_version) FROM events WHERE stream_id IN (?) GROUP BY stream_id`, bun.In(ids))
	}
	if err != nil {
		return 0, nil, fmt.Errorf("reading stream versions: %w", err)
	}
	defer rows.Close()
	var head int64
	for rows.Next() {
		var (
			kind int
			id   string
			v    int64
		)
		if err := rows.Scan(&kind, &id, &v); err != nil {
			return 0, nil, fmt.Errorf("reading stream versions: %w", err)
		}
		if kind == 0 {
			head = v
		} else {
			versions[id] = v
		}
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("reading stream versions: %w", err)
	}
	return head, versions, nil
}

// insert writes recs with their positions, insertChunk rows a statement.
// On PostgreSQL the last statement also moves the position column's
// sequence to the new head, so that anything still drawing positions from
// it (an older node during a rolling upgrade, under the same lock) goes on
// after them instead of colliding.
func (s *Store) insert(ctx context.Context, tx bun.Tx, recs []events.Recorded, metas []string) error {
	if h := keptStmts(ctx); h != nil { // SQLite: appendconn.go
		return s.insertKept(ctx, h, recs, metas)
	}
	pg := s.db.Kind == configs.KindPostgres
	for start := 0; start < len(recs); start += insertChunk {
		chunk := recs[start:min(start+insertChunk, len(recs))]
		last := start+insertChunk >= len(recs)
		var q strings.Builder
		args := make([]any, 0, 8*len(chunk)+1)
		if pg && last {
			q.WriteString("WITH ins AS (")
		}
		q.WriteString(insertVerb(pg) + " INTO events (position, stream_id, stream_version, name, version, payload, meta, occurred_at) VALUES ")
		for i, r := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, r.Position, r.StreamID, r.StreamVersion, r.Name, r.Version, string(r.Payload), metas[start+i], r.OccurredAt.UnixMilli())
		}
		if pg && last {
			q.WriteString(") SELECT setval(pg_get_serial_sequence('events', 'position'), ?)")
			args = append(args, chunk[len(chunk)-1].Position)
		}
		// An Exec, also for the SELECT around PostgreSQL's INSERT: its row
		// is not needed, and an Exec can travel with the COMMIT.
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			if isUniqueViolation(err) {
				return events.ErrVersionConflict
			}
			return fmt.Errorf("inserting %d events: %w", len(chunk), err)
		}
	}
	return nil
}

// insertVerb is INSERT, on SQLite INSERT OR FAIL: a multi-row INSERT that
// may abort keeps a statement journal (every page it changes, copied) to
// undo itself alone, and a failed insert rolls back the whole group or the
// command's savepoint anyway.
func insertVerb(pg bool) string {
	if pg {
		return "INSERT"
	}
	return "INSERT OR FAIL"
}
