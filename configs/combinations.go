package configs

// checkCombinations refuses settings that cannot take effect next to the
// rest of the configuration: a configured component either works or the
// node does not start, with the fields named. A setting equal to its
// default changes nothing and is accepted wherever it is written, so that a
// file spelling out every default (configs/local.json) stays valid.
func (c *Config) checkCombinations(add func(path, format string, args ...any)) {
	primaryKind, _, _ := ParseDatabaseURL(c.Database.Primary)
	replicaKind, _, _ := ParseDatabaseURL(c.Database.ReadonlyReplica)
	if c.Database.ReadonlyReplica != "" && primaryKind == KindSQLite && replicaKind == KindSQLite {
		add("/database/readonlyReplica", "needs a PostgreSQL primary: SQLite has no replication, so reads would go to a file nothing writes")
	}

	redis := c.Redis != nil && c.Redis.URL != ""
	if cl := c.Cluster; cl != nil && redis {
		// With Redis the counters live there and no decision is forwarded
		// to an owner (cluster.NewLimiter), so these would do nothing.
		if cl.ForwardTimeoutMs != 0 && cl.ForwardTimeoutMs != DefaultForwardTimeoutMs {
			add("/cluster/forwardTimeoutMs", "has no effect with redis.url: rate-limit decisions are made in Redis, never forwarded; remove it or redis.url")
		}
		if cl.FailMode != "" && cl.FailMode != DefaultClusterFailMode {
			add("/cluster/failMode", "has no effect with redis.url: rate-limit decisions are made in Redis, never forwarded (a Redis outage fails open); remove it or redis.url")
		}
	}

	if c.ClickHouse == nil || c.ClickHouse.URL == "" {
		a := c.Analytics
		if a.InsertBatchSize != 0 && a.InsertBatchSize != DefaultInsertBatchSize {
			add("/analytics/insertBatchSize", "has no effect without clickhouse.url: it sizes the ClickHouse projector's inserts")
		}
		if a.InsertFlushIntervalMs != 0 && a.InsertFlushIntervalMs != DefaultInsertFlushMs {
			add("/analytics/insertFlushIntervalMs", "has no effect without clickhouse.url: it paces the ClickHouse projector's inserts")
		}
	}

	if c.Logs.Color && c.Logs.JSON() {
		add("/logs/color", "has no effect with logs.format \"json\" (colors apply to text logs only)")
	}
}
