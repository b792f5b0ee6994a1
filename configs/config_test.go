package configs

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// envOf builds a lookupEnv backed by a map so tests never see the real
// environment.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

var noEnv = envOf(nil)

func mustParse(t *testing.T, doc string, env func(string) (string, bool)) *Config {
	t.Helper()
	cfg, err := Parse([]byte(doc), env)
	if err != nil {
		t.Fatalf("Parse(%s) failed:\n%v", doc, err)
	}
	return cfg
}

func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("want *ValidationError, got %T: %v", err, err)
	}
	return verr.Problems
}

var nodeIDRE = regexp.MustCompile(`^node_[0-9a-f]{12}$`)

func TestDefaultsApplied(t *testing.T) {
	cfg := mustParse(t, `{"database":{"primary":"sqlite:k.db"}}`, noEnv)

	want := &Config{
		Region:             "local",
		HTTPPort:           7070,
		MaxRequestBodySize: 10485760,
		HTTPHost:           "", // a config file binds every interface unless it says otherwise
		Server: Server{ReadHeaderTimeoutMs: 5000, ReadTimeoutMs: 30000, WriteTimeoutMs: 60000,
			IdleTimeoutMs: 120000, MaxHeaderBytes: 65536},
		Database:    Database{Primary: "sqlite:k.db"},
		Projections: Projections{PollIntervalMs: 100},
		Readiness:   Readiness{MaxLagEvents: 1000, TimeoutMs: 1000},
		Analytics: Analytics{BufferSize: 10000, Retention: 1000000, BatchSize: 100, FlushIntervalMs: 1000,
			InsertBatchSize: 50000, InsertFlushIntervalMs: 1000},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v\nwant %+v", cfg, want)
	}
}

func TestExplicitValuesWinOverDefaults(t *testing.T) {
	cfg := mustParse(t, `{
		"region": "eu-west-1",
		"httpPort": 8080,
		"maxRequestBodySize": 1024,
		"database": {"primary": "sqlite:k.db"},
		"projections": {"pollIntervalMs": 250},
		"cluster": {"nodeId": "n1", "rpcPort": "9001", "gossipPort": "9002",
		            "discovery": {"static": {"addrs": ["10.0.0.2:9001"]}}}
	}`, noEnv)

	tests := []struct {
		name string
		got  any
		want any
	}{
		{"region", cfg.Region, "eu-west-1"},
		{"httpPort", cfg.HTTPPort, 8080},
		{"maxRequestBodySize", cfg.MaxRequestBodySize, int64(1024)},
		{"pollIntervalMs", cfg.Projections.PollIntervalMs, 250},
		{"nodeId", cfg.Cluster.NodeID, "n1"},
		{"rpcPort", cfg.Cluster.RPCPort, "9001"},
		{"gossipPort", cfg.Cluster.GossipPort, "9002"},
		{"addrs", cfg.Cluster.Discovery.Static.Addrs, []string{"10.0.0.2:9001"}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestClusterDefaults(t *testing.T) {
	const doc = `{"database":{"primary":"sqlite:k.db"},
		"cluster":{"discovery":{"static":{"addrs":["a:7071"]}}}}`
	a := mustParse(t, doc, noEnv)
	b := mustParse(t, doc, noEnv)

	if a.Cluster.RPCPort != "7071" || a.Cluster.GossipPort != "7072" {
		t.Errorf("ports = %q/%q, want 7071/7072", a.Cluster.RPCPort, a.Cluster.GossipPort)
	}
	if a.Cluster.AdvertiseAddr != "" {
		t.Errorf("advertiseAddr = %q, want empty", a.Cluster.AdvertiseAddr)
	}
	if a.Cluster.ForwardTimeoutMs != 2000 || a.Cluster.FailMode != "open" {
		t.Errorf("forwardTimeoutMs/failMode = %d/%q, want 2000/open", a.Cluster.ForwardTimeoutMs, a.Cluster.FailMode)
	}
	for _, id := range []string{a.Cluster.NodeID, b.Cluster.NodeID} {
		if !nodeIDRE.MatchString(id) {
			t.Errorf("nodeId %q does not match %s", id, nodeIDRE)
		}
	}
	if a.Cluster.NodeID == b.Cluster.NodeID {
		t.Errorf("two loads generated the same nodeId %q", a.Cluster.NodeID)
	}
}

func TestListenTimeoutsAndTLS(t *testing.T) {
	cfg := mustParse(t, `{"database":{"primary":"sqlite:k.db"},"httpHost":"10.0.0.5",
		"server":{"readTimeoutMs":1500,"maxHeaderBytes":8192},
		"tls":{"certFile":"/etc/keyline/api.crt","keyFile":"/etc/keyline/api.key"},
		"cluster":{"secret":"s","discovery":{"static":{"addrs":["a:1"]}},
			"tls":{"certFile":"rpc.crt","keyFile":"rpc.key","caFile":"ca.crt"}}}`, noEnv)
	wantServer := Server{ReadHeaderTimeoutMs: 5000, ReadTimeoutMs: 1500, WriteTimeoutMs: 60000,
		IdleTimeoutMs: 120000, MaxHeaderBytes: 8192}
	if cfg.HTTPHost != "10.0.0.5" || cfg.Server != wantServer {
		t.Errorf("httpHost %q, server %+v; want 10.0.0.5, %+v", cfg.HTTPHost, cfg.Server, wantServer)
	}
	if cfg.TLS == nil || *cfg.TLS != (TLS{CertFile: "/etc/keyline/api.crt", KeyFile: "/etc/keyline/api.key"}) {
		t.Errorf("tls = %+v", cfg.TLS)
	}
	if got := cfg.Cluster.TLS; got == nil || *got != (ClusterTLS{CertFile: "rpc.crt", KeyFile: "rpc.key", CAFile: "ca.crt"}) {
		t.Errorf("cluster.tls = %+v", got)
	}
}

func TestDefault(t *testing.T) {
	cfg := Default()
	want := &Config{
		Region:             "local",
		HTTPPort:           7070,
		MaxRequestBodySize: 10 << 20,
		HTTPHost:           "127.0.0.1",
		Server: Server{ReadHeaderTimeoutMs: 5000, ReadTimeoutMs: 30000, WriteTimeoutMs: 60000,
			IdleTimeoutMs: 120000, MaxHeaderBytes: 65536},
		Database:    Database{Primary: "sqlite:./data/keyline.db"},
		Projections: Projections{PollIntervalMs: 100},
		Readiness:   Readiness{MaxLagEvents: 1000, TimeoutMs: 1000},
		Analytics: Analytics{BufferSize: 10000, Retention: 1000000, BatchSize: 100, FlushIntervalMs: 1000,
			InsertBatchSize: 50000, InsertFlushIntervalMs: 1000},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("Default() = %+v\nwant %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if kind := cfg.Database.PrimaryKind(); kind != KindSQLite {
		t.Errorf("PrimaryKind() = %q, want %q", kind, KindSQLite)
	}
	// Callers must not be able to change each other's defaults.
	cfg.Region = "changed"
	if Default().Region != "local" {
		t.Error("Default() shares state between calls")
	}
}

func TestLocalJSONEqualsDefault(t *testing.T) {
	cfg, err := Load("local.json", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Fatalf("local.json = %+v\nDefault() = %+v", cfg, Default())
	}
}

var productionEnv = map[string]string{
	"KEYLINE_PLATFORM":           "fly.io",
	"KEYLINE_IMAGE":              "ghcr.io/keyline/keyline:1.4.2",
	"KEYLINE_REGION":             "fra",
	"KEYLINE_HEARTBEAT_URL":      "https://uptime.example.com/ping/abc123",
	"KEYLINE_NODE_ID":            "node_fra_1",
	"KEYLINE_ADVERTISE_ADDR":     "10.0.1.17",
	"KEYLINE_REDIS_URL":          "rediss://default:r3dis@cache.internal:6380/0",
	"KEYLINE_DATABASE_PRIMARY":   "postgres://keyline:pw@db-primary.internal:5432/keyline?sslmode=require",
	"KEYLINE_DATABASE_REPLICA":   "postgresql://keyline:pw@db-replica.internal:5432/keyline?sslmode=require",
	"KEYLINE_CLICKHOUSE_URL":     "clickhouse://analytics.internal:9000/keyline",
	"KEYLINE_ROOT_KEY":           "kl_root_0123456789abcdef",
	"KEYLINE_ENCRYPTION_KEY":     "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	"KEYLINE_CLUSTER_SECRET":     "s3cret-shared-by-members",
	"UNRELATED_VARIABLE_IGNORED": "x",
}

var productionSampleRate = 0.1

func TestProductionJSON(t *testing.T) {
	cfg, err := Load("production.json", envOf(productionEnv))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Platform:           "fly.io",
		Image:              "ghcr.io/keyline/keyline:1.4.2",
		Region:             "fra",
		HTTPPort:           7070,
		MaxRequestBodySize: 10485760,
		Server: Server{ReadHeaderTimeoutMs: 5000, ReadTimeoutMs: 30000, WriteTimeoutMs: 60000,
			IdleTimeoutMs: 120000, MaxHeaderBytes: 65536},
		Heartbeat: &Heartbeat{URL: "https://uptime.example.com/ping/abc123", Interval: 30},
		Cluster: &Cluster{
			NodeID:           "node_fra_1",
			AdvertiseAddr:    "10.0.1.17",
			RPCPort:          "7071",
			GossipPort:       "7072",
			Secret:           "s3cret-shared-by-members",
			FailureTimeoutMs: DefaultFailureTimeoutMs,
			ForwardTimeoutMs: DefaultForwardTimeoutMs,
			FailMode:         DefaultClusterFailMode,
			Discovery: Discovery{Redis: &RedisDiscovery{
				URL:       "rediss://default:r3dis@cache.internal:6380/0",
				KeyPrefix: DefaultClusterKeyPrefix,
			}},
		},
		Database: Database{
			Primary:         "postgres://keyline:pw@db-primary.internal:5432/keyline?sslmode=require",
			ReadonlyReplica: "postgresql://keyline:pw@db-replica.internal:5432/keyline?sslmode=require",
		},
		ClickHouse:  &ClickHouse{URL: "clickhouse://analytics.internal:9000/keyline"},
		Redis:       &Redis{URL: "rediss://default:r3dis@cache.internal:6380/0", KeyPrefix: DefaultRedisKeyPrefix},
		Bootstrap:   &Bootstrap{RootKey: "kl_root_0123456789abcdef"},
		Projections: Projections{PollIntervalMs: 100},
		Readiness:   Readiness{MaxLagEvents: 1000, TimeoutMs: 1000},
		Encryption:  &Encryption{Keys: []EncryptionKey{{ID: "k1", Key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}},
		Analytics: Analytics{BufferSize: 10000, Retention: 1000000, BatchSize: 100, FlushIntervalMs: 1000,
			InsertBatchSize: 50000, InsertFlushIntervalMs: 1000},
		Logs:    Logs{Format: LogFormatJSON, Level: "info"},
		Tracing: &Tracing{Endpoint: "http://otel-collector.internal:4318", SampleRate: &productionSampleRate},
	}
	if !reflect.DeepEqual(cfg, want) {
		got, _ := json.MarshalIndent(cfg, "", "  ")
		exp, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("production.json:\n%s\nwant:\n%s", got, exp)
	}
	if kind := cfg.Database.PrimaryKind(); kind != KindPostgres {
		t.Errorf("PrimaryKind() = %q, want %q", kind, KindPostgres)
	}
}

func TestProductionJSONWithoutEnvNamesEveryVariable(t *testing.T) {
	_, err := Load("production.json", noEnv)
	var eerr *UndefinedEnvError
	if !errors.As(err, &eerr) {
		t.Fatalf("want *UndefinedEnvError, got %T: %v", err, err)
	}
	want := []string{
		"KEYLINE_ADVERTISE_ADDR", "KEYLINE_CLICKHOUSE_URL", "KEYLINE_CLUSTER_SECRET", "KEYLINE_DATABASE_PRIMARY",
		"KEYLINE_DATABASE_REPLICA", "KEYLINE_ENCRYPTION_KEY", "KEYLINE_HEARTBEAT_URL", "KEYLINE_IMAGE",
		"KEYLINE_NODE_ID", "KEYLINE_PLATFORM", "KEYLINE_REDIS_URL",
		"KEYLINE_REGION", "KEYLINE_ROOT_KEY",
	}
	if !slices.Equal(eerr.Names, want) {
		t.Fatalf("Names = %v\nwant %v", eerr.Names, want)
	}
	if !strings.HasPrefix(err.Error(), "production.json: config: undefined environment variable(s): KEYLINE_ADVERTISE_ADDR, ") {
		t.Errorf("message = %q", err.Error())
	}
}

func TestEnvExpansion(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		env  map[string]string
		want func(*Config) any
		exp  any
	}{
		{
			name: "quote and backslash are escaped into the JSON string",
			doc:  `{"database":{"primary":"sqlite:k.db"},"bootstrap":{"rootKey":"${ROOT}"}}`,
			env:  map[string]string{"ROOT": `abc"def\ghi` + "\t" + `0123456789`},
			want: func(c *Config) any { return c.Bootstrap.RootKey },
			exp:  `abc"def\ghi` + "\t" + `0123456789`,
		},
		{
			name: "placeholder in the middle of a string",
			doc:  `{"database":{"primary":"postgres://u:${PW}@${HOST}:5432/db"}}`,
			env:  map[string]string{"PW": "p@ss", "HOST": "db.internal"},
			want: func(c *Config) any { return c.Database.Primary },
			exp:  "postgres://u:p@ss@db.internal:5432/db",
		},
		{
			name: "placeholder outside a string supplies a number",
			doc:  `{"database":{"primary":"sqlite:k.db"},"httpPort":${PORT}}`,
			env:  map[string]string{"PORT": "8081"},
			want: func(c *Config) any { return c.HTTPPort },
			exp:  8081,
		},
		{
			name: "values are not expanded again",
			doc:  `{"database":{"primary":"sqlite:k.db"},"platform":"${P}"}`,
			env:  map[string]string{"P": "${NOT_SET}"},
			want: func(c *Config) any { return c.Platform },
			exp:  "${NOT_SET}",
		},
		{
			name: "empty value is defined",
			doc:  `{"database":{"primary":"sqlite:k.db"},"image":"${IMG}"}`,
			env:  map[string]string{"IMG": ""},
			want: func(c *Config) any { return c.Image },
			exp:  "",
		},
		{
			name: "JSON escape sequence keeps a literal dollar-brace",
			doc:  `{"database":{"primary":"sqlite:k.db"},"image":"\u0024{LITERAL}"}`,
			want: func(c *Config) any { return c.Image },
			exp:  "${LITERAL}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, tt.doc, envOf(tt.env))
			if got := tt.want(cfg); !reflect.DeepEqual(got, tt.exp) {
				t.Errorf("got %#v, want %#v", got, tt.exp)
			}
		})
	}
}

func TestUndefinedEnv(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		env     map[string]string
		names   []string
		message string
	}{
		{
			name:    "one undefined",
			doc:     `{"database":{"primary":"${PG_URL}"}}`,
			names:   []string{"PG_URL"},
			message: "config: undefined environment variable(s): PG_URL",
		},
		{
			name:    "two undefined, sorted, duplicates once",
			doc:     `{"database":{"primary":"${PG_URL}"},"bootstrap":{"rootKey":"${KEYLINE_ROOT_KEY}"},"image":"${PG_URL}"}`,
			names:   []string{"KEYLINE_ROOT_KEY", "PG_URL"},
			message: "config: undefined environment variable(s): KEYLINE_ROOT_KEY, PG_URL",
		},
		{
			name:    "defined ones are not reported",
			doc:     `{"database":{"primary":"${PG_URL}"},"image":"${IMAGE}"}`,
			env:     map[string]string{"PG_URL": "postgres://h/db"},
			names:   []string{"IMAGE"},
			message: "config: undefined environment variable(s): IMAGE",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), envOf(tt.env))
			var eerr *UndefinedEnvError
			if !errors.As(err, &eerr) {
				t.Fatalf("want *UndefinedEnvError, got %T: %v", err, err)
			}
			if !slices.Equal(eerr.Names, tt.names) {
				t.Errorf("Names = %v, want %v", eerr.Names, tt.names)
			}
			if err.Error() != tt.message {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.message)
			}
		})
	}
}

func TestRejected(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // one whole problem line
	}{
		{
			name: "unknown top-level field",
			doc:  `{"database":{"primary":"sqlite:k.db"},"foo":1}`,
			want: "/foo: unknown field (additional property not allowed)",
		},
		{
			name: "unknown nested field",
			doc:  `{"database":{"primary":"sqlite:k.db","pool":5}}`,
			want: "/database/pool: unknown field (additional property not allowed)",
		},
		{
			name: "unknown deeply nested field",
			doc:  `{"database":{"primary":"sqlite:k.db"},"cluster":{"discovery":{"static":{"addrs":["a:1"],"ttl":3}}}}`,
			want: "/cluster/discovery/static/ttl: unknown field (additional property not allowed)",
		},
		{
			name: "wrong type",
			doc:  `{"database":{"primary":"sqlite:k.db"},"httpPort":"abc"}`,
			want: "/httpPort: expected integer, got string",
		},
		{
			name: "fractional port",
			doc:  `{"database":{"primary":"sqlite:k.db"},"httpPort":80.5}`,
			want: "/httpPort: expected integer, got number",
		},
		{
			name: "port above range",
			doc:  `{"database":{"primary":"sqlite:k.db"},"httpPort":70000}`,
			want: "/httpPort: must be <= 65535, got 70000",
		},
		{
			name: "port below range",
			doc:  `{"database":{"primary":"sqlite:k.db"},"httpPort":0}`,
			want: "/httpPort: must be >= 1, got 0",
		},
		{
			name: "addrs not an array",
			doc:  `{"database":{"primary":"sqlite:k.db"},"cluster":{"discovery":{"static":{"addrs":"a:1"}}}}`,
			want: "/cluster/discovery/static/addrs: expected array, got string",
		},
		{
			name: "empty addrs",
			doc:  `{"database":{"primary":"sqlite:k.db"},"cluster":{"discovery":{"static":{"addrs":[]}}}}`,
			want: "/cluster/discovery/static/addrs: must have at least 1 item, got 0",
		},
		{
			name: "two discovery methods",
			doc:  `{"database":{"primary":"sqlite:k.db"},"cluster":{"discovery":{"static":{"addrs":["a:1"]},"redis":{"url":"redis://r:6379"}}}}`,
			want: "/cluster/discovery: must set exactly one discovery method (static or redis), got 2",
		},
		{
			name: "zero discovery methods",
			doc:  `{"database":{"primary":"sqlite:k.db"},"cluster":{"discovery":{}}}`,
			want: "/cluster/discovery: must set exactly one discovery method (static or redis), got none",
		},
		{
			name: "cluster without discovery",
			doc:  `{"database":{"primary":"sqlite:k.db"},"cluster":{"nodeId":"n1"}}`,
			want: "/cluster/discovery: required field missing",
		},
		{
			name: "heartbeat without interval",
			doc:  `{"database":{"primary":"sqlite:k.db"},"heartbeat":{"url":"https://hb.example.com"}}`,
			want: "/heartbeat/interval: required field missing",
		},
		{
			name: "heartbeat interval zero",
			doc:  `{"database":{"primary":"sqlite:k.db"},"heartbeat":{"url":"https://hb.example.com","interval":0}}`,
			want: "/heartbeat/interval: must be >= 1, got 0",
		},
		{
			name: "heartbeat non-http scheme",
			doc:  `{"database":{"primary":"sqlite:k.db"},"heartbeat":{"url":"ftp://hb.example.com","interval":5}}`,
			want: "/heartbeat/url: must be an http:// or https:// URL",
		},
		{
			name: "bad database scheme",
			doc:  `{"database":{"primary":"mysql://u:p@h/db"}}`,
			want: "/database/primary: must be a postgres://…, postgresql://… or sqlite:PATH URL",
		},
		{
			name: "missing database",
			doc:  `{"httpPort":7070}`,
			want: "/database: required field missing",
		},
		{
			name: "missing primary",
			doc:  `{"database":{"readonlyReplica":"sqlite:r.db"}}`,
			want: "/database/primary: required field missing",
		},
		{
			name: "replica of another kind",
			doc:  `{"database":{"primary":"postgres://h/db","readonlyReplica":"sqlite:r.db"}}`,
			want: "/database/readonlyReplica: must be the same kind as primary (postgres), got sqlite",
		},
		{
			name: "cluster fail mode",
			doc:  `{"database":{"primary":"sqlite:k.db"},"cluster":{"failMode":"maybe","discovery":{"static":{"addrs":["a:1"]}}}}`,
			want: `/cluster/failMode: must be one of "open", "closed"`,
		},
		{
			name: "cluster forward timeout too small",
			doc:  `{"database":{"primary":"sqlite:k.db"},"cluster":{"forwardTimeoutMs":50,"discovery":{"static":{"addrs":["a:1"]}}}}`,
			want: "/cluster/forwardTimeoutMs: must be >= 100, got 50",
		},
		{
			name: "redis without host",
			doc:  `{"database":{"primary":"sqlite:k.db"},"redis":{"url":"redis:///0"}}`,
			want: "/redis/url: URL has no host",
		},
		{
			name: "clickhouse with bad scheme",
			doc:  `{"database":{"primary":"sqlite:k.db"},"clickhouse":{"url":"tcp://ch:9000"}}`,
			want: "/clickhouse/url: must be a clickhouse://host:9000 or http(s)://host:8123 URL",
		},
		{
			name: "clickhouse unparsable",
			doc:  `{"database":{"primary":"sqlite:k.db"},"clickhouse":{"url":"http://ch:port"}}`,
			want: `/clickhouse/url: is not a valid URL: invalid port ":port" after host`,
		},
		{
			name: "short root key",
			doc:  `{"database":{"primary":"sqlite:k.db"},"bootstrap":{"rootKey":"short"}}`,
			want: "/bootstrap/rootKey: must be at least 16 characters long, got 5",
		},
		{
			name: "poll interval too small",
			doc:  `{"database":{"primary":"sqlite:k.db"},"projections":{"pollIntervalMs":5}}`,
			want: "/projections/pollIntervalMs: must be >= 10, got 5",
		},
		{
			name: "rpc port not digits",
			doc:  `{"database":{"primary":"sqlite:k.db"},"cluster":{"rpcPort":"http","discovery":{"static":{"addrs":["a:1"]}}}}`,
			want: "/cluster/rpcPort: must be a port number written as a string of 1 to 5 digits",
		},
		{
			name: "rpc port out of range",
			doc:  `{"database":{"primary":"sqlite:k.db"},"cluster":{"rpcPort":"99999","discovery":{"static":{"addrs":["a:1"]}}}}`,
			want: `/cluster/rpcPort: must be a port number between 1 and 65535, got "99999"`,
		},
		{
			name: "rpc and gossip port equal",
			doc:  `{"database":{"primary":"sqlite:k.db"},"cluster":{"rpcPort":"9000","gossipPort":"9000","discovery":{"static":{"addrs":["a:1"]}}}}`,
			want: "/cluster/gossipPort: must differ from rpcPort (both 9000)",
		},
		{
			name: "rpc port equals http port",
			doc:  `{"database":{"primary":"sqlite:k.db"},"httpPort":7071,"cluster":{"discovery":{"static":{"addrs":["a:1"]}}}}`,
			want: "/cluster/rpcPort: must differ from httpPort (both 7071)",
		},
		{
			name: "logs color not boolean",
			doc:  `{"database":{"primary":"sqlite:k.db"},"logs":{"color":"yes"}}`,
			want: "/logs/color: expected boolean, got string",
		},
		{
			name: "root not an object",
			doc:  `[]`,
			want: "(root): expected object, got array",
		},
		{
			name: "tls without a key",
			doc:  `{"database":{"primary":"sqlite:k.db"},"tls":{"certFile":"c.pem"}}`,
			want: "/tls/keyFile: required field missing",
		},
		{
			name: "zero read timeout",
			doc:  `{"database":{"primary":"sqlite:k.db"},"server":{"readTimeoutMs":0}}`,
			want: "/server/readTimeoutMs: must be >= 1, got 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), noEnv)
			if err == nil {
				t.Fatal("Parse accepted an invalid config")
			}
			problems := problemsOf(t, err)
			if !slices.Contains(problems, tt.want) {
				t.Fatalf("problems %q\ndo not contain %q", problems, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "invalid config:\n") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

func TestAllProblemsReportedTogether(t *testing.T) {
	doc := `{
		"httpPort": 70000,
		"color": true,
		"database": {"primary": "mysql://u:p@h/db"}
	}`
	_, err := Parse([]byte(doc), noEnv)
	got := problemsOf(t, err)
	want := []string{
		"/color: unknown field (additional property not allowed)",
		"/database/primary: must be a postgres://…, postgresql://… or sqlite:PATH URL",
		"/httpPort: must be <= 65535, got 70000",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if wantMsg := "invalid config:\n" + strings.Join(want, "\n"); err.Error() != wantMsg {
		t.Errorf("Error() = %q\nwant %q", err.Error(), wantMsg)
	}
}

func TestProblemsOrderedByPath(t *testing.T) {
	doc := `{"database":{"primary":"sqlite:k.db"},
		"cluster":{"discovery":{"static":{"addrs":[1]},"redis":{"url":"redis://r"},"x":1}}}`
	_, err := Parse([]byte(doc), noEnv)
	got := problemsOf(t, err)
	want := []string{
		"/cluster/discovery: must set exactly one discovery method (static or redis), got 3",
		"/cluster/discovery/static/addrs/0: expected string, got number",
		"/cluster/discovery/x: unknown field (additional property not allowed)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSemanticProblemsReportedTogether(t *testing.T) {
	doc := `{
		"database": {"primary": "postgres://h/db", "readonlyReplica": "sqlite:r.db"},
		"redis": {"url": "redis:///0"},
		"heartbeat": {"url": "https:///x", "interval": 10}
	}`
	_, err := Parse([]byte(doc), noEnv)
	got := problemsOf(t, err)
	want := []string{
		"/database/readonlyReplica: must be the same kind as primary (postgres), got sqlite",
		"/heartbeat/url: URL has no host",
		"/redis/url: URL has no host",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSecretsAreNotEchoed(t *testing.T) {
	docs := []string{
		`{"database":{"primary":"mysql://u:s3cr3tpw@h/db"}}`,
		`{"database":{"primary":"sqlite:k.db"},"bootstrap":{"rootKey":"s3cr3tpw"}}`,
		`{"database":{"primary":"sqlite:k.db"},"clickhouse":{"url":"http://u:s3cr3tpw@ch:port"}}`,
	}
	for _, doc := range docs {
		_, err := Parse([]byte(doc), noEnv)
		if err == nil {
			t.Fatalf("Parse(%s) succeeded", doc)
		}
		if strings.Contains(err.Error(), "s3cr3tpw") {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"trailing comma", "{\n  \"httpPort\": 7070,\n}", "syntax error at line 3, column 1: "},
		{"bad token", "{\n  \"database\": {\"primary\": x}\n}", "syntax error at line 2, column 27: "},
		{"truncated", "{\n  \"database\": {", "syntax error at line 2, column 16: unexpected end of document"},
		{"empty", "  \n", "syntax error: document is empty"},
		{"two documents", `{"database":{"primary":"sqlite:k.db"}} {}`, "syntax error at line 1, column 40: unexpected content after the top-level value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), noEnv)
			problems := problemsOf(t, err)
			if len(problems) != 1 || !strings.HasPrefix(problems[0], tt.want) {
				t.Fatalf("problems = %q, want one starting with %q", problems, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.json"), noEnv)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("want fs.ErrNotExist, got %v", err)
	}
}

func TestLoadPrefixesPath(t *testing.T) {
	_, err := Load("local.json", nil) // nil falls back to os.LookupEnv
	if err != nil {
		t.Fatalf("Load(local.json, nil) = %v", err)
	}
	path := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(path, []byte(`{"database":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path, noEnv)
	if want := path + ": invalid config:\n/database/primary: required field missing"; err == nil || err.Error() != want {
		t.Fatalf("Load error = %v, want %q", err, want)
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Load error does not unwrap to *ValidationError: %T", err)
	}
}

func TestParseDatabaseURL(t *testing.T) {
	tests := []struct {
		raw     string
		kind    DatabaseKind
		dsn     string
		wantErr string
	}{
		{raw: "postgres://u:p@h:5432/db?sslmode=disable", kind: KindPostgres, dsn: "postgres://u:p@h:5432/db?sslmode=disable"},
		{raw: "postgresql://h/db", kind: KindPostgres, dsn: "postgresql://h/db"},
		{raw: "sqlite:./data/keyline.db", kind: KindSQLite, dsn: "./data/keyline.db"},
		{raw: "sqlite:/var/lib/k.db", kind: KindSQLite, dsn: "/var/lib/k.db"},
		{raw: "sqlite:file:x?mode=memory&cache=shared", kind: KindSQLite, dsn: "file:x?mode=memory&cache=shared"},
		{raw: "sqlite:k.db", kind: KindSQLite, dsn: "k.db"},
		{raw: "mysql://u:secret@h/db", wantErr: `unsupported database URL scheme "mysql"; want postgres://…, postgresql://… or sqlite:PATH`},
		{raw: "Postgres://h/db", wantErr: `unsupported database URL scheme "Postgres"`},
		{raw: "./data/keyline.db", wantErr: "database URL has no scheme"},
		{raw: "", wantErr: "database URL is empty"},
		{raw: "sqlite:", wantErr: "has no path"},
		{raw: "postgres://", wantErr: "has no host or database"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			kind, dsn, err := ParseDatabaseURL(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				if kind != "" || dsn != "" {
					t.Errorf("got (%q, %q) alongside an error", kind, dsn)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kind != tt.kind || dsn != tt.dsn {
				t.Errorf("got (%q, %q), want (%q, %q)", kind, dsn, tt.kind, tt.dsn)
			}
		})
	}
}

func TestValidateGoBuiltConfig(t *testing.T) {
	cfg := Default()
	cfg.Cluster = &Cluster{} // no discovery, ports left to defaults
	cfg.Database.ReadonlyReplica = "postgres://h/db"
	got := problemsOf(t, cfg.Validate())
	want := []string{
		"/cluster/discovery: must set exactly one discovery method (static or redis), got none",
		"/database/readonlyReplica: must be the same kind as primary (sqlite), got postgres",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("problems = %q\nwant %q", got, want)
	}
}

func TestParseConcurrently(t *testing.T) {
	data := []byte(`{"database":{"primary":"sqlite:k.db"},"cluster":{"discovery":{"static":{"addrs":["a:1"]}}}}`)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			if _, err := Parse(data, noEnv); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// --- schema.json ⇄ Config consistency ---

func loadSchemaDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(Schema(), &doc); err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	return doc
}

// TestSchemaMatchesStruct fails when a field exists only in Config or only
// in schema.json, or when their types disagree.
func TestSchemaMatchesStruct(t *testing.T) {
	checkSchemaNode(t, reflect.TypeFor[Config](), loadSchemaDoc(t), "")
}

func checkSchemaNode(t *testing.T, typ reflect.Type, node map[string]any, path string) {
	t.Helper()
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	where := path
	if where == "" {
		where = "(root)"
	}
	switch typ.Kind() {
	case reflect.Struct:
		if node["type"] != "object" {
			t.Errorf("%s: schema type = %v, want object", where, node["type"])
		}
		if node["additionalProperties"] != false {
			t.Errorf("%s: schema must set additionalProperties: false", where)
		}
		props, _ := node["properties"].(map[string]any)
		seen := map[string]bool{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				t.Errorf("%s: field %s.%s has no json name", where, typ.Name(), f.Name)
				continue
			}
			seen[name] = true
			sub, ok := props[name].(map[string]any)
			if !ok {
				t.Errorf("%s/%s: field %s.%s missing from schema.json", path, name, typ.Name(), f.Name)
				continue
			}
			if _, ok := sub["description"].(string); !ok {
				t.Errorf("%s/%s: schema property has no description", path, name)
			}
			checkSchemaNode(t, f.Type, sub, path+"/"+name)
		}
		for name := range props {
			if !seen[name] {
				t.Errorf("%s/%s: schema property has no field in %s", path, name, typ.Name())
			}
		}
	case reflect.Slice:
		if node["type"] != "array" {
			t.Errorf("%s: schema type = %v, want array", where, node["type"])
		}
		items, _ := node["items"].(map[string]any)
		checkSchemaNode(t, typ.Elem(), items, path+"/items")
	case reflect.String:
		if node["type"] != "string" {
			t.Errorf("%s: schema type = %v, want string", where, node["type"])
		}
	case reflect.Bool:
		if node["type"] != "boolean" {
			t.Errorf("%s: schema type = %v, want boolean", where, node["type"])
		}
	case reflect.Int, reflect.Int64:
		if node["type"] != "integer" {
			t.Errorf("%s: schema type = %v, want integer", where, node["type"])
		}
	case reflect.Float64:
		if node["type"] != "number" {
			t.Errorf("%s: schema type = %v, want number", where, node["type"])
		}
	default:
		t.Errorf("%s: Go kind %s has no schema mapping in this test", where, typ.Kind())
	}
}

// schemaAt follows property names from the schema root.
func schemaAt(t *testing.T, doc map[string]any, names ...string) map[string]any {
	t.Helper()
	node := doc
	for _, n := range names {
		props, _ := node["properties"].(map[string]any)
		next, ok := props[n].(map[string]any)
		if !ok {
			t.Fatalf("schema has no property %v", names)
		}
		node = next
	}
	return node
}

func TestSchemaDefaultsMatchGo(t *testing.T) {
	doc := loadSchemaDoc(t)
	tests := []struct {
		path []string
		want any // as encoding/json decodes it
	}{
		{[]string{"region"}, DefaultRegion},
		{[]string{"httpPort"}, float64(DefaultHTTPPort)},
		{[]string{"maxRequestBodySize"}, float64(DefaultMaxRequestBodySize)},
		{[]string{"server", "readHeaderTimeoutMs"}, float64(DefaultReadHeaderTimeoutMs)},
		{[]string{"server", "readTimeoutMs"}, float64(DefaultReadTimeoutMs)},
		{[]string{"server", "writeTimeoutMs"}, float64(DefaultWriteTimeoutMs)},
		{[]string{"server", "idleTimeoutMs"}, float64(DefaultIdleTimeoutMs)},
		{[]string{"server", "maxHeaderBytes"}, float64(DefaultMaxHeaderBytes)},
		{[]string{"cluster", "rpcPort"}, DefaultRPCPort},
		{[]string{"cluster", "gossipPort"}, DefaultGossipPort},
		{[]string{"cluster", "failureTimeoutMs"}, float64(DefaultFailureTimeoutMs)},
		{[]string{"cluster", "forwardTimeoutMs"}, float64(DefaultForwardTimeoutMs)},
		{[]string{"cluster", "failMode"}, DefaultClusterFailMode},
		{[]string{"cluster", "discovery", "redis", "keyPrefix"}, DefaultClusterKeyPrefix},
		{[]string{"logs", "color"}, false},
		{[]string{"projections", "pollIntervalMs"}, float64(DefaultPollIntervalMs)},
		{[]string{"redis", "keyPrefix"}, DefaultRedisKeyPrefix},
		{[]string{"analytics", "bufferSize"}, float64(DefaultAnalyticsBuffer)},
		{[]string{"analytics", "retention"}, float64(DefaultAnalyticsRetention)},
		{[]string{"analytics", "batchSize"}, float64(DefaultAnalyticsBatchSize)},
		{[]string{"analytics", "flushIntervalMs"}, float64(DefaultAnalyticsFlushMs)},
		{[]string{"analytics", "insertBatchSize"}, float64(DefaultInsertBatchSize)},
		{[]string{"analytics", "insertFlushIntervalMs"}, float64(DefaultInsertFlushMs)},
	}
	for _, tt := range tests {
		if got := schemaAt(t, doc, tt.path...)["default"]; got != tt.want {
			t.Errorf("%v: schema default = %#v, Go default = %#v", tt.path, got, tt.want)
		}
	}
}

func TestPatternHintsCoverSchema(t *testing.T) {
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if p, ok := v["pattern"].(string); ok {
				if _, ok := patternHints[p]; !ok {
					t.Errorf("pattern %q in schema.json has no entry in patternHints", p)
				}
				if _, err := regexp.Compile(p); err != nil {
					t.Errorf("pattern %q: %v", p, err)
				}
			}
			for _, sub := range v {
				walk(sub)
			}
		case []any:
			for _, sub := range v {
				walk(sub)
			}
		}
	}
	walk(loadSchemaDoc(t))
}

func TestSchemaReturnsCopy(t *testing.T) {
	b := Schema()
	b[0] = 'X'
	if Schema()[0] == 'X' {
		t.Fatal("Schema() exposes the embedded bytes")
	}
}

func TestRedisKeyPrefix(t *testing.T) {
	cfg := mustParse(t, `{"database":{"primary":"sqlite:k.db"},"redis":{"url":"redis://r:6379"}}`, noEnv)
	if cfg.Redis.KeyPrefix != DefaultRedisKeyPrefix {
		t.Fatalf("default key prefix = %q", cfg.Redis.KeyPrefix)
	}
	cfg = mustParse(t, `{"database":{"primary":"sqlite:k.db"},"redis":{"url":"redis://r:6379","keyPrefix":"t1:"}}`, noEnv)
	if cfg.Redis.KeyPrefix != "t1:" {
		t.Fatalf("key prefix = %q", cfg.Redis.KeyPrefix)
	}
	if _, err := Parse([]byte(`{"database":{"primary":"sqlite:k.db"},"redis":{"url":"redis://r:6379","keyPrefix":""}}`), noEnv); err == nil {
		t.Fatal("an empty key prefix was accepted")
	}
}

func TestMigrations(t *testing.T) {
	cfg, err := Parse([]byte(`{"database":{"primary":"sqlite:k.db"},"migrations":[
		{"id":"your_company","algorithm":"github.com/seamapi/prefixed-api-key"},{"id":"legacy","algorithm":"sha256"}]}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := []Migration{{ID: "your_company", Algorithm: MigrationPrefixedAPIKey}, {ID: "legacy", Algorithm: MigrationSHA256}}
	if !reflect.DeepEqual(cfg.Migrations, want) {
		t.Fatalf("migrations = %+v", cfg.Migrations)
	}
	for doc, problem := range map[string]string{
		`[{"id":"a","algorithm":"sha256"},{"id":"b","algorithm":"sha256"}]`:     "/migrations/0/id: must be at least 3 characters long",
		`[{"id":"abc","algorithm":"md5"}]`:                                      `/migrations/0/algorithm: must be one of "github.com/seamapi/prefixed-api-key", "sha256"`,
		`[{"id":"abc"}]`:                                                        "/migrations/0/algorithm: required field missing",
		`[{"id":"abc","algorithm":"sha256"},{"id":"abc","algorithm":"sha256"}]`: "/migrations/1/id: duplicate migration id \"abc\"",
		`[{"id":"abc","algorithm":"sha256","prefix":"x"}]`:                      "/migrations/0/prefix: unknown field",
	} {
		_, err := Parse([]byte(`{"database":{"primary":"sqlite:k.db"},"migrations":`+doc+`}`), noEnv)
		if err == nil || !strings.Contains(err.Error(), problem) {
			t.Errorf("migrations %s: err = %v, want a problem starting %q", doc, err, problem)
		}
	}
	// Configs built in Go get the same checks.
	bad := Default()
	bad.Migrations = []Migration{{ID: "abc", Algorithm: "md5"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `/migrations/0/algorithm: must be "github.com/seamapi/prefixed-api-key" or "sha256", got "md5"`) {
		t.Errorf("Validate() = %v", err)
	}
}

func TestLogsAndTracingConfig(t *testing.T) {
	cfg, err := Parse([]byte(`{"database":{"primary":"sqlite:k.db"},
		"logs":{"format":"json","level":"warn"},
		"tracing":{"endpoint":"http://collector:4318","sampleRate":0.1}}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Logs.JSON() || cfg.Logs.Level != "warn" {
		t.Errorf("logs = %+v, want json at warn", cfg.Logs)
	}
	if !cfg.Tracing.Enabled() || cfg.Tracing.Endpoint != "http://collector:4318" || *cfg.Tracing.SampleRate != 0.1 {
		t.Errorf("tracing = %+v, want the collector at rate 0.1", cfg.Tracing)
	}
	if Default().Tracing.Enabled() {
		t.Error("tracing is on by default")
	}
	for _, bad := range []string{
		`"logs":{"format":"yaml"}`,
		`"logs":{"level":"trace"}`,
		`"tracing":{"sampleRate":0.5}`,
		`"tracing":{"endpoint":"http://c:4318","sampleRate":1.5}`,
	} {
		if _, err := Parse([]byte(`{"database":{"primary":"sqlite:k.db"},`+bad+`}`), noEnv); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	cfg = Default()
	cfg.Logs = Logs{Format: "yaml", Level: "trace"}
	sr := -0.5
	cfg.Tracing = &Tracing{Endpoint: "collector", SampleRate: &sr}
	got := problemsOf(t, cfg.Validate())
	want := []string{
		`/logs/format: must be "text" or "json", got "yaml"`,
		`/logs/level: must be one of ["debug" "info" "warn" "error"], got "trace"`,
		"/tracing/endpoint: URL has no host",
		"/tracing/sampleRate: must be between 0 and 1, got -0.5",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("problems = %q\nwant %q", got, want)
	}
}
