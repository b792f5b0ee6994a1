package configs

import (
	"testing"
)

// postgres-redis.json is the common deployment: any number of nodes on one
// PostgreSQL (primary + replica) sharing rate limits and events through
// Redis, with no ClickHouse and no memberlist cluster.
func TestPostgresRedisExample(t *testing.T) {
	cfg, err := Load("postgres-redis.json", envOf(productionEnv))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "fra" || cfg.HTTPPort != 7070 {
		t.Errorf("region %q, port %d", cfg.Region, cfg.HTTPPort)
	}
	if cfg.Database.PrimaryKind() != KindPostgres || cfg.Database.ReadonlyReplica != productionEnv["KEYLINE_DATABASE_REPLICA"] {
		t.Errorf("database = %+v", cfg.Database)
	}
	if cfg.Redis == nil || cfg.Redis.URL != productionEnv["KEYLINE_REDIS_URL"] || cfg.Redis.KeyPrefix != DefaultRedisKeyPrefix {
		t.Errorf("redis = %+v", cfg.Redis)
	}
	if cfg.Bootstrap == nil || cfg.Bootstrap.RootKey != productionEnv["KEYLINE_ROOT_KEY"] {
		t.Errorf("bootstrap = %+v", cfg.Bootstrap)
	}
	if cfg.ClickHouse != nil || cfg.Cluster != nil || cfg.Heartbeat != nil || cfg.Encryption != nil {
		t.Errorf("optional sections set: clickhouse %v, cluster %v, heartbeat %v, encryption %v",
			cfg.ClickHouse, cfg.Cluster, cfg.Heartbeat, cfg.Encryption)
	}
}
