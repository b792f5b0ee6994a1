package configs

import (
	_ "embed"
)

// Defaults applied by Parse and Default to fields left unset. They are
// repeated as "default" in schema.json; a test keeps the two in step.
const (
	DefaultRegion             = "local"
	DefaultHTTPPort           = 7070
	DefaultMaxRequestBodySize = 10 << 20 // 10 MiB
	DefaultRPCPort            = "7071"
	DefaultGossipPort         = "7072"
	DefaultPollIntervalMs     = 100
	// GET /readyz: a node more events behind the head than this is not
	// ready; each dependency check gets this long.
	DefaultReadinessMaxLagEvents = 1000
	DefaultReadinessTimeoutMs    = 1000
	DefaultDatabasePrimary       = "sqlite:./data/keyline.db"
	DefaultRedisKeyPrefix        = "keyline:rl:"
	DefaultAnalyticsBuffer       = 10000
	DefaultAnalyticsRetention    = 1000000
	DefaultAnalyticsBatchSize    = 100
	DefaultAnalyticsFlushMs      = 1000
	DefaultInsertBatchSize       = 50000
	DefaultInsertFlushMs         = 1000
	DefaultFailureTimeoutMs      = 3000
	DefaultClusterKeyPrefix      = "keyline:cluster:"

	// The API server's limits against slow or hostile clients (Server).
	DefaultReadHeaderTimeoutMs = 5000
	DefaultReadTimeoutMs       = 30000
	DefaultWriteTimeoutMs      = 60000
	DefaultIdleTimeoutMs       = 120000
	DefaultMaxHeaderBytes      = 64 << 10 // 64 KiB
	// EmbeddedHTTPHost is what the embedded default (no config file) binds:
	// it prints an all-powerful root key, so it is reachable from this
	// machine only. A config file binds every interface unless httpHost says
	// otherwise.
	EmbeddedHTTPHost = "127.0.0.1"

	DefaultForwardTimeoutMs = 2000
	DefaultClusterFailMode  = FailModeOpen
)

// Values of cluster.failMode.
const (
	FailModeOpen   = "open"
	FailModeClosed = "closed"
)

//go:embed schema.json
var schemaJSON []byte

// Schema returns the JSON Schema (draft 2020-12) that config files are
// validated against. The caller gets a copy so the embedded bytes cannot be
// altered for later validations.
func Schema() []byte {
	out := make([]byte, len(schemaJSON))
	copy(out, schemaJSON)
	return out
}

// Config is the whole server configuration. Every field mirrors a property
// of schema.json.
type Config struct {
	// Platform names the hosting platform; recorded in logs and metrics.
	// (Optional) Default: "".
	Platform string `json:"platform,omitempty"`

	// Image identifies the container image or build; recorded in logs and
	// metrics. (Optional) Default: "".
	Image string `json:"image,omitempty"`

	// Region this node runs in. (Optional) Default: "local".
	Region string `json:"region,omitempty"`

	// HTTPPort is the TCP port of the public HTTP API, 1..65535.
	// (Optional) Default: 7070.
	HTTPPort int `json:"httpPort,omitempty"`

	// MaxRequestBodySize caps request bodies, in bytes.
	// (Optional) Default: 10485760 (10 MiB).
	MaxRequestBodySize int64 `json:"maxRequestBodySize,omitempty"`

	// HTTPHost is the host or IP the public HTTP API binds; "" binds every
	// interface. (Optional) Default in a config file: "", every interface;
	// the embedded default (no config file) binds EmbeddedHTTPHost.
	HTTPHost string `json:"httpHost,omitempty"`

	// Server bounds how long the HTTP API waits for slow clients.
	// (Optional) Default: zero value with defaults applied to its fields.
	Server Server `json:"server,omitempty"`

	// TLS makes the HTTP API serve HTTPS. (Optional) Default: nil, plain
	// HTTP.
	TLS *TLS `json:"tls,omitempty"`

	// Heartbeat enables a periodic liveness ping to an external monitor.
	// (Optional) Default: nil, no heartbeat.
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`

	// Metrics serves Prometheus metrics on their own listener.
	// (Optional) Default: nil, no metrics listener.
	Metrics *Metrics `json:"metrics,omitempty"`

	// Readiness bounds what GET /readyz accepts as ready. (Optional)
	// Default: zero value with defaults applied to its fields.
	Readiness Readiness `json:"readiness,omitempty"`

	// Cluster enables multi-node operation.
	// (Optional) Default: nil, single node.
	Cluster *Cluster `json:"cluster,omitempty"`

	// Portal configures the customer portal page (/portal). (Optional)
	// Default: zero value with defaults applied to its fields.
	Portal Portal `json:"portal,omitempty"`

	// Logs tunes log output. (Optional) Default: zero value.
	Logs Logs `json:"logs,omitempty"`

	// Tracing exports OpenTelemetry traces over OTLP/HTTP.
	// (Optional) Default: nil, no tracing and no cost.
	Tracing *Tracing `json:"tracing,omitempty"`

	// Database locates the event store and projections.
	// (Required) Default (Default() only): primary "sqlite:./data/keyline.db".
	Database Database `json:"database"`

	// ClickHouse enables usage analytics. (Optional) Default: nil, disabled.
	ClickHouse *ClickHouse `json:"clickhouse,omitempty"`

	// Redis enables shared rate limits and pub/sub across nodes.
	// (Optional) Default: nil, disabled.
	Redis *Redis `json:"redis,omitempty"`

	// Bootstrap provisions a root key on first start.
	// (Optional) Default: nil, nothing provisioned.
	Bootstrap *Bootstrap `json:"bootstrap,omitempty"`

	// Projections tunes read-model projection. (Optional) Default: zero
	// value with defaults applied to its fields.
	Projections Projections `json:"projections,omitempty"`

	// Encryption holds the keyring for recoverable keys.
	// (Optional) Default: nil; creating a recoverable key answers 412.
	Encryption *Encryption `json:"encryption,omitempty"`

	// Migrations are the key migrations keys.migrateKeys and verifyKey's
	// migrationId accept; any other migrationId is unknown (404 in
	// migrateKeys, NOT_FOUND in verifyKey). Unkey's team creates them per
	// customer; here they are configuration, shared by every workspace.
	// (Optional) Default: none.
	Migrations []Migration `json:"migrations,omitempty"`

	// Analytics bounds the verification/rate-limit event pipeline.
	// (Optional) Default: zero value with defaults applied to its fields.
	Analytics Analytics `json:"analytics,omitempty"`
}

// Server bounds the public HTTP API's patience with clients, so that slow or
// abandoned connections cannot pile up and hold memory. Every timeout is in
// milliseconds.
type Server struct {
	// ReadHeaderTimeoutMs is how long a client may take to send the request
	// line and headers. (Optional) Default: 5000.
	ReadHeaderTimeoutMs int `json:"readHeaderTimeoutMs,omitempty"`

	// ReadTimeoutMs is how long a client may take to send a whole request,
	// headers and body; a slower upload is cut off and its connection
	// closed. At the default a 10 MiB body needs about 350 KB/s.
	// (Optional) Default: 30000.
	ReadTimeoutMs int `json:"readTimeoutMs,omitempty"`

	// WriteTimeoutMs is how long the server may take from the end of the
	// request headers to the end of its answer; it must cover reading the
	// body and the slowest operation (analytics queries run up to 10 s).
	// (Optional) Default: 60000.
	WriteTimeoutMs int `json:"writeTimeoutMs,omitempty"`

	// IdleTimeoutMs is how long a kept-alive connection may wait for its
	// next request. (Optional) Default: 120000.
	IdleTimeoutMs int `json:"idleTimeoutMs,omitempty"`

	// MaxHeaderBytes caps the request line and headers, in bytes; more is
	// answered 431. (Optional) Default: 65536 (64 KiB).
	MaxHeaderBytes int `json:"maxHeaderBytes,omitempty"`
}

// TLS is the certificate the HTTP API serves HTTPS with. Files are read at
// start-up: a renewed certificate takes a restart.
type TLS struct {
	// CertFile is a PEM certificate chain, leaf first. (Required) No default.
	CertFile string `json:"certFile"`

	// KeyFile is the PEM private key of the leaf. (Required) No default.
	KeyFile string `json:"keyFile"`
}

// ClusterTLS is the certificate the cluster RPC port serves HTTPS with, and
// what peers trust when they call it.
type ClusterTLS struct {
	// CertFile is a PEM certificate chain, leaf first. (Required) No default.
	CertFile string `json:"certFile"`

	// KeyFile is the PEM private key of the leaf. (Required) No default.
	KeyFile string `json:"keyFile"`

	// CAFile holds the PEM certificates of the authorities that signed the
	// peers' RPC certificates; a peer's certificate must then name the
	// address it is dialed at (its advertiseAddr) as a DNS or IP SAN.
	// (Optional) Default: "", every node uses the same certificate and a
	// peer is trusted only when it presents exactly that certificate (no
	// name check: the pin is exact).
	CAFile string `json:"caFile,omitempty"`
}

// Encryption is the keyring recoverable keys are sealed with (AES-256-GCM).
type Encryption struct {
	// Keys are the keyring entries, at least one. The first encrypts new
	// keys; every entry decrypts, so a new key can be put first while the
	// old one still opens what it sealed. (Required) No default.
	Keys []EncryptionKey `json:"keys"`
}

// EncryptionKey is one keyring entry.
type EncryptionKey struct {
	// ID names the entry; it is stored next to each ciphertext.
	// (Required) No default.
	ID string `json:"id"`

	// Key is 32 bytes, standard base64-encoded; supply it as ${ENV}.
	// (Required) No default.
	Key string `json:"key"`
}

// The algorithms a Migration may name.
const (
	// MigrationPrefixedAPIKey imports keys of github.com/seamapi/prefixed-api-key:
	// the key is prefix_short_long and the imported hash hex(sha256(long)).
	// A key is rehashed to keyline's form on its first verification.
	MigrationPrefixedAPIKey = "github.com/seamapi/prefixed-api-key"
	// MigrationSHA256 is in Unkey's enum but Unkey never matches a key with
	// it, so such keys always verify as NOT_FOUND; keyline does the same.
	MigrationSHA256 = "sha256"
)

// Migration declares one key migration.
type Migration struct {
	// ID is the migrationId clients send, 3..255 characters, unique.
	// (Required) No default.
	ID string `json:"id"`

	// Algorithm says how imported hashes are matched: MigrationPrefixedAPIKey
	// or MigrationSHA256. (Required) No default.
	Algorithm string `json:"algorithm"`
}

// Analytics bounds the node-local side of the analytics pipeline. Every bound
// is explicit because analytics must never take memory or disk from the
// request path: past a bound, events are dropped and counted.
type Analytics struct {
	// BufferSize is how many analytics events a node holds in memory before
	// they reach the stream; more are dropped, counted and logged.
	// (Optional) Default: 10000.
	BufferSize int `json:"bufferSize,omitempty"`

	// Retention is how many analytics events the stream keeps (the Redis
	// stream's MAXLEN, or the rows of the local store), whether or not a
	// consumer has read them. (Optional) Default: 1000000.
	Retention int64 `json:"retention,omitempty"`

	// BatchSize is the most events a node writes to the stream in one
	// batch (one pipelined round trip). (Optional) Default: 100.
	BatchSize int `json:"batchSize,omitempty"`

	// FlushIntervalMs is the longest an event waits in the node for its
	// stream batch to fill, in milliseconds. (Optional) Default: 1000.
	FlushIntervalMs int `json:"flushIntervalMs,omitempty"`

	// InsertBatchSize is the most records the ClickHouse projector inserts
	// in one INSERT. ClickHouse pays per insert (a part in the raw table and
	// one per rollup view), so this, not BatchSize, bounds the ingest rate;
	// the projector holds at most two such batches in memory (one being
	// inserted, one being read), about 400 bytes a record: some 40 MB at
	// the default. Refused at another value without clickhouse.url, where
	// it would do nothing. (Optional) Default: 50000.
	InsertBatchSize int `json:"insertBatchSize,omitempty"`

	// InsertFlushIntervalMs is the longest a record read from the stream
	// waits for its insert batch to fill, in milliseconds. Refused at
	// another value without clickhouse.url. (Optional) Default: 1000.
	InsertFlushIntervalMs int `json:"insertFlushIntervalMs,omitempty"`
}

// Heartbeat is a periodic liveness ping.
type Heartbeat struct {
	// URL receives the ping; http:// or https://. (Required) No default.
	URL string `json:"url"`

	// Interval between pings, in whole seconds, >= 1. (Required) No default.
	Interval int `json:"interval"`
}

// Metrics is the Prometheus listener (GET /metrics). It is a port of its
// own so that it can be firewalled apart from the public API.
type Metrics struct {
	// Port is the TCP port, 1..65535. (Required) No default.
	Port int `json:"port"`

	// Host is the host or IP it binds; "" binds every interface.
	// (Optional) Default: "".
	Host string `json:"host,omitempty"`
}

// Readiness bounds GET /readyz.
type Readiness struct {
	// MaxLagEvents is how many events this node's tailer may be behind the
	// log head and still be ready. (Optional) Default: 1000.
	MaxLagEvents int64 `json:"maxLagEvents,omitempty"`

	// TimeoutMs bounds each dependency check (database, Redis), in
	// milliseconds. (Optional) Default: 1000.
	TimeoutMs int `json:"timeoutMs,omitempty"`
}

// Portal configures the customer portal.
type Portal struct {
	// PublicURL is the absolute http(s) base URL end users reach keyline at,
	// without a trailing slash: portal.createSession answers
	// PublicURL + "/portal?code=...". Set it behind a proxy or load
	// balancer. It is never taken from a request's Host header, which a
	// client chooses. (Optional) Default: "", meaning http://<httpHost or
	// localhost>:<httpPort> (https with tls).
	PublicURL string `json:"publicUrl,omitempty"`
}

// Cluster configures how this node joins its peers.
type Cluster struct {
	// NodeID identifies this node among its peers. (Optional) Default:
	// "node_" + 12 random hex characters, generated at load time, so it is
	// not stable across restarts; set it when identity must persist.
	NodeID string `json:"nodeId,omitempty"`

	// AdvertiseAddr is the host or IP peers use to reach this node.
	// (Optional) Default: "", left to the cluster layer to detect.
	AdvertiseAddr string `json:"advertiseAddr,omitempty"`

	// RPCPort is the node-to-node RPC port, as digits.
	// (Optional) Default: "7071".
	RPCPort string `json:"rpcPort,omitempty"`

	// GossipPort is the membership gossip port, as digits.
	// (Optional) Default: "7072".
	GossipPort string `json:"gossipPort,omitempty"`

	// Secret is shared by every member and required on each RPC request;
	// the gossip is sealed under a key derived from it. The RPC port
	// forwards rate-limit decisions, so without a secret anyone who can
	// reach it could consume or probe counters: keyline refuses to start a
	// cluster node without one. (Optional in the schema so that a
	// config can take it from ${ENV}) Default: "".
	Secret string `json:"secret,omitempty"`

	// TLS makes the RPC port serve HTTPS and peers call it over TLS.
	// Every node of a cluster must agree: a TLS node cannot call a plain
	// one. (Optional) Default: nil, plain HTTP guarded by Secret.
	TLS *ClusterTLS `json:"tls,omitempty"`

	// FailureTimeoutMs is roughly how long a silent member stays alive in
	// the others' view before it is declared failed; probe interval and
	// suspicion time derive from it. Shorter detects crashes sooner but
	// mistakes a slow node for a dead one more easily; 100..60000.
	// (Optional) Default: 3000.
	FailureTimeoutMs int `json:"failureTimeoutMs,omitempty"`

	// ForwardTimeoutMs bounds how long a node waits for the owner of a
	// rate-limit counter to answer a forwarded decision (cluster without
	// Redis), a quick retry after a failed connect included, before
	// FailMode applies. It must cover an owner that is busy, not dead: too
	// short and a loaded owner's keys are decided without it. It is also
	// the latency a hung owner adds to each request until its failure is
	// detected; 100..30000. Refused at another value with redis.url, where
	// nothing is forwarded. (Optional) Default: 2000.
	ForwardTimeoutMs int `json:"forwardTimeoutMs,omitempty"`

	// FailMode is the decision when the owner does not answer within
	// ForwardTimeoutMs: "open" decides on this node's own counters (a key
	// may then admit up to one limit per node), "closed" denies with the
	// limit's normal denied answer (no over-admission, but an unreachable
	// owner rejects its keys' traffic). Either way it is counted and logged.
	// Refused at "closed" with redis.url, where nothing is forwarded.
	// (Optional) Default: "open".
	FailMode string `json:"failMode,omitempty"`

	// Discovery tells the node how to find peers; exactly one method must be
	// set. (Required) No default.
	Discovery Discovery `json:"discovery"`
}

// Discovery holds exactly one peer discovery method.
type Discovery struct {
	// Static lists peers explicitly. (Optional; exactly one of Static, Redis)
	Static *StaticDiscovery `json:"static,omitempty"`

	// Redis lets peers register in a Redis instance. (Optional; exactly one
	// of Static, Redis)
	Redis *RedisDiscovery `json:"redis,omitempty"`
}

// StaticDiscovery is a fixed peer list.
type StaticDiscovery struct {
	// Addrs are peer addresses (host:port), at least one. (Required) No
	// default.
	Addrs []string `json:"addrs"`
}

// RedisDiscovery finds peers through Redis.
type RedisDiscovery struct {
	// URL is a redis:// or rediss:// URL. (Required) No default.
	URL string `json:"url"`

	// KeyPrefix starts the registration key of every node, so several
	// clusters can share one Redis without joining each other.
	// (Optional) Default: "keyline:cluster:".
	KeyPrefix string `json:"keyPrefix,omitempty"`
}

// Logs tunes log output.
type Logs struct {
	// Color turns on ANSI colors in console logs (text format only).
	// (Optional) Default: false.
	Color bool `json:"color,omitempty"`

	// Format is "text" (logfmt-like key=value lines) or "json" (one JSON
	// object per line on stdout and stderr, the first-start root key
	// included). (Optional) Default: "text".
	Format string `json:"format,omitempty"`

	// Level is the least severe level written: "debug", "info", "warn" or
	// "error". (Optional) Default: "info".
	Level string `json:"level,omitempty"`
}

// Log formats and levels of Logs.
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// LogLevels lists the accepted Logs.Level values, least severe first.
var LogLevels = []string{"debug", "info", "warn", "error"}

// JSON reports whether logs are JSON lines.
func (l Logs) JSON() bool { return l.Format == LogFormatJSON }

// Tracing exports OpenTelemetry spans.
type Tracing struct {
	// Endpoint is the OTLP/HTTP collector base URL, e.g.
	// "http://collector:4318"; spans go to its /v1/traces. An empty
	// endpoint turns tracing off. (Required)
	Endpoint string `json:"endpoint"`

	// SampleRate is the fraction of new traces recorded, 0 to 1; a request
	// that carries a sampled W3C traceparent is always recorded.
	// (Optional) Default: 1.
	SampleRate *float64 `json:"sampleRate,omitempty"`
}

// Enabled reports whether spans are exported; a nil Tracing is off.
func (t *Tracing) Enabled() bool { return t != nil && t.Endpoint != "" }

// Database locates the SQL databases. See ParseDatabaseURL for the accepted
// URL forms.
type Database struct {
	// Primary is the writable database. (Required) No default in files.
	Primary string `json:"primary"`

	// ReadonlyReplica serves reads; must be the same kind as Primary, and
	// PostgreSQL (SQLite has no replication).
	// (Optional) Default: "", reads go to Primary.
	ReadonlyReplica string `json:"readonlyReplica,omitempty"`
}

// ClickHouse locates the analytics store.
type ClickHouse struct {
	// URL is clickhouse://host:9000 (native) or http(s)://host:8123.
	// (Required) No default.
	URL string `json:"url"`
}

// Redis locates the shared cache.
type Redis struct {
	// URL is a redis:// or rediss:// URL. (Required) No default.
	URL string `json:"url"`

	// KeyPrefix starts every rate-limit counter key, so several keyline
	// deployments (or test runs) can share one Redis without sharing
	// counters. (Optional) Default: "keyline:rl:".
	KeyPrefix string `json:"keyPrefix,omitempty"`

	// StreamPrefix is put before the names of keyline's Redis streams
	// (keyline.events, keyline.analytics, keyline.cluster), so that several deployments, or
	// test runs, can share one Redis. (Optional) Default: "".
	StreamPrefix string `json:"streamPrefix,omitempty"`
}

// Stream returns the full name of the Redis stream called name; a nil
// receiver (no Redis) returns name unchanged.
func (r *Redis) Stream(name string) string {
	if r == nil {
		return name
	}
	return r.StreamPrefix + name
}

// Bootstrap provisions state on first start.
type Bootstrap struct {
	// RootKey becomes the first API key; at least 16 characters. A changed
	// value revokes, at start, the key the previous value configured; a
	// value whose key was revoked stops the node from starting.
	// (Optional) Default: "", no root key created.
	RootKey string `json:"rootKey,omitempty"`
}

// Projections tunes read-model projection.
type Projections struct {
	// PollIntervalMs is how often, in milliseconds, a node polls the event
	// log for events appended by other processes; 10..60000.
	// (Optional) Default: 100.
	PollIntervalMs int `json:"pollIntervalMs,omitempty"`
}
