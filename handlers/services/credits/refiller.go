package credits

import (
	"context"
	"errors"
	"time"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// RefillReader is what the refiller reads.
type RefillReader interface {
	KeysWithRefill(ctx context.Context) ([]projections.KeyRow, error)
	Credits(ctx context.Context, keyID string) (projections.KeyCreditsRow, bool, error)
}

// Refiller resets the credits of keys with a refill schedule, Unkey's daily
// cron: daily keys every UTC day, monthly keys on their refillDay, or on the
// last day of a month too short to have it. A refill sets the balance to the
// amount; keys already at or above it are left alone.
//
// Every node runs it. Each refill is appended to a stream named after the
// key and the UTC date with expected version 0, so however many nodes try,
// a key refills exactly once per period.
type Refiller struct {
	Log    EventLog
	Reader RefillReader
}

// NewRefiller builds the refiller.
func NewRefiller(log EventLog, r RefillReader) *Refiller { return &Refiller{Log: log, Reader: r} }

// due reports whether a refill schedule applies on the UTC date of now.
func due(interval string, day int, now time.Time) bool {
	if interval == "daily" {
		return true
	}
	today := now.Day()
	lastDay := time.Date(now.Year(), now.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return day == today || (today == lastDay && day > today)
}

// RunOnce refills every key due at now and returns how many it refilled.
func (r *Refiller) RunOnce(ctx context.Context, now time.Time) (int, error) {
	now = now.UTC()
	period := now.Format("2006-01-02")
	rows, err := r.Reader.KeysWithRefill(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, row := range rows {
		if !due(row.RefillInterval, row.RefillDay, now) {
			continue
		}
		if row.LastRefillAt != nil && time.UnixMilli(*row.LastRefillAt).UTC().Format("2006-01-02") == period {
			continue
		}
		c, ok, err := r.Reader.Credits(ctx, row.ID)
		if err != nil {
			return n, err
		}
		if !ok || (c.Remaining != nil && *c.Remaining >= row.RefillAmount) {
			continue
		}
		_, err = r.Log.Append(ctx, events.KeyRefillStreamID(row.ID, period), 0, events.Metadata{WorkspaceID: row.WorkspaceID, ActorID: "refill"},
			events.KeyRefilled{KeyID: row.ID, WorkspaceID: row.WorkspaceID, Amount: row.RefillAmount, Period: period})
		if errors.Is(err, events.ErrVersionConflict) {
			continue // another node refilled it for this period
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Run refills at start-up (catching up after downtime) and every minute.
func (r *Refiller) Run(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if _, err := r.RunOnce(ctx, time.Now()); err != nil && ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
