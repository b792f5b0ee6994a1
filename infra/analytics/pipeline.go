package analytics

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/clickhouse"
	"github.com/keyline/keyline/infra/redisstream"
	"github.com/keyline/keyline/infra/sqlstore"
)

// Pipeline is what `keyline run` runs for analytics. Sink is always set.
// With Redis, records go to the stream and Projector (with ClickHouse)
// reads them; without, they go to Records, the local store, and
// LocalProjector (with ClickHouse) reads them. Audit needs ClickHouse.
type Pipeline struct {
	Sink           *Sink
	Projector      *Projector
	Records        *LocalStore
	LocalProjector *LocalProjector
	Audit          *Audit
	ClickHouse     *clickhouse.DB
	// LocalQuery feeds the analytics query API from the local store when
	// there is neither ClickHouse nor Redis (see LocalQueries).
	LocalQuery *LocalQuery
}

// NewPipeline assembles the analytics components the config asks for.
func NewPipeline(ctx context.Context, cfg *configs.Config, store *sqlstore.Store, ch *clickhouse.DB, logger *slog.Logger) (*Pipeline, func(), error) {
	p := &Pipeline{ClickHouse: ch}
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	var pub Publisher
	if cfg.Redis != nil && cfg.Redis.URL != "" {
		stream := cfg.Redis.Stream(redisstream.AnalyticsTopic)
		rp, err := NewRedisPublisher(ctx, cfg.Redis.URL, stream, cfg.Analytics.Retention, logger)
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, func() { _ = rp.Close() })
		pub = rp
		if ch != nil {
			client, err := redisstream.NewClient(ctx, cfg.Redis.URL)
			if err != nil {
				cleanup()
				return nil, nil, err
			}
			closers = append(closers, func() { _ = client.Close() })
			p.Projector = NewProjector(client, stream, ch, ConsumerName(cfg), cfg.Analytics, logger)
		}
	}
	if pub == nil {
		// No Redis stream: records stay in the local store, bounded by the
		// same retention, for `keyline consume` and, with ClickHouse, the
		// local projector.
		local, err := NewLocalStore(ctx, store.DB(), cfg.Analytics.Retention)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		pub, p.Records = local, local
		if ch != nil {
			p.LocalProjector = NewLocalProjector(local, ch, leaseOwner(cfg), cfg.Analytics, logger)
		}
		if LocalQueries(cfg) {
			if p.LocalQuery, err = NewLocalQuery(ctx, store.DB(), cfg.Analytics.Retention, logger); err != nil {
				cleanup()
				return nil, nil, err
			}
			local.CountInto(p.LocalQuery)
		}
	}
	sinkCfg := cfg.Analytics
	if p.Records != nil {
		// The local store pays per transaction (a commit, the position
		// lookup, the query tables), not per round trip: larger batches
		// cost it less per record. At most half the buffer, so that a full
		// batch is signalled well before Emit has to drop.
		sinkCfg.BatchSize = max(sinkCfg.BatchSize, min(localBatchFloor, sinkCfg.BufferSize/2))
	}
	p.Sink = NewSink(sinkCfg, pub, logger)
	p.Audit = AuditFor(store, ch, cfg.Projections, logger)
	return p, cleanup, nil
}

// localBatchFloor is the smallest batch the sink hands the local store.
const localBatchFloor = 1000

// leaseOwner names this node in the local projector's lease: the cluster
// node ID (unique in a cluster), else the host name and HTTP port, which no
// two live processes on one host share. Stable across restarts, so a node
// restarted after a crash takes its lease back at once.
func leaseOwner(cfg *configs.Config) string {
	if cfg.Cluster != nil && cfg.Cluster.NodeID != "" {
		return cfg.Cluster.NodeID
	}
	return ConsumerName(cfg) + ":" + strconv.Itoa(cfg.HTTPPort)
}
