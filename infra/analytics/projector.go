package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/clickhouse"
)

// ProjectorGroup is the consumer group of the ClickHouse projector: every
// node's projector is a consumer of it, so each entry is inserted by one.
const ProjectorGroup = "keyline-clickhouse"

// staleAfter is how long an entry may sit unacknowledged with another
// consumer before this one takes it over.
const staleAfter = time.Minute

// Projector moves records from the analytics stream into ClickHouse.
type Projector struct {
	reader groupReader
	db     *clickhouse.DB
	batch  int
	flush  time.Duration
	logger *slog.Logger
}

// ConsumerName is this node's stable name in consumer groups: the cluster
// node ID when configured, else the host name. Stable, so that a restarted
// process finds the entries its predecessor left unacknowledged.
func ConsumerName(cfg *configs.Config) string {
	if cfg.Cluster != nil && cfg.Cluster.NodeID != "" {
		return cfg.Cluster.NodeID
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "keyline"
}

// NewProjector builds the projector over its own Redis client.
func NewProjector(client *redis.Client, stream string, db *clickhouse.DB, consumer string, cfg configs.Analytics, logger *slog.Logger) *Projector {
	return &Projector{
		reader: groupReader{client: client, streams: []string{stream}, group: ProjectorGroup, consumer: consumer},
		db:     db, batch: max(cfg.BatchSize, 1), flush: time.Duration(max(cfg.FlushIntervalMs, 1)) * time.Millisecond,
		logger: logger,
	}
}

// Run projects until ctx ends or an error occurs; the supervisor restarts
// it, and the restart begins with whatever was left unacknowledged.
func (p *Projector) Run(ctx context.Context) error {
	if err := p.reader.ensureGroup(ctx, "0"); err != nil {
		return err
	}
	// Entries delivered to us before a crash or a failed insert may or may
	// not be in ClickHouse: suspect.
	for {
		es, err := p.reader.pending(ctx, p.batch)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			break
		}
		if err := p.write(ctx, es, true); err != nil {
			return err
		}
	}
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		if time.Since(lastClaim) > staleAfter/2 {
			lastClaim = time.Now()
			es, err := p.reader.claimStale(ctx, staleAfter, p.batch)
			if err != nil {
				return err
			}
			if len(es) > 0 {
				if err := p.write(ctx, es, true); err != nil {
					return err
				}
			}
		}
		es, err := p.collect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(es) > 0 {
			if err := p.write(ctx, es, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// collect gathers up to batch fresh entries, waiting at most one flush
// interval after the first one arrived.
func (p *Projector) collect(ctx context.Context) ([]entry, error) {
	var out []entry
	deadline := time.Now().Add(p.flush)
	for len(out) < p.batch {
		wait := time.Until(deadline)
		if wait < time.Millisecond {
			break
		}
		es, err := p.reader.fresh(ctx, p.batch-len(out), wait)
		if err != nil {
			return out, err
		}
		out = append(out, es...)
		if len(out) == 0 && len(es) == 0 {
			// Idle: start the next interval from the first arrival.
			return nil, nil
		}
	}
	return out, nil
}

// write inserts es and only then acknowledges them.
func (p *Projector) write(ctx context.Context, es []entry, suspect bool) error {
	evs := make([]events.AnalyticsEvent, 0, len(es))
	for _, e := range es {
		if len(e.Payload) == 0 {
			continue
		}
		var ev events.AnalyticsEvent
		if err := json.Unmarshal(e.Payload, &ev); err != nil || ev.ID == "" {
			// A record this build cannot read would block the stream
			// forever; it is logged and skipped.
			p.logger.Error("skipping unreadable analytics record", "redisId", e.RedisID, "error", err)
			continue
		}
		evs = append(evs, ev)
	}
	if len(evs) > 0 {
		if _, err := p.db.WriteAnalytics(ctx, evs, suspect); err != nil {
			return fmt.Errorf("writing %d analytics records: %w", len(evs), err)
		}
	}
	// Should the ack fail, the entries stay pending and are re-checked.
	return p.reader.ack(ctx, es)
}
