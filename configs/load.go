package configs

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ValidationError lists every problem found in a config so an operator can
// fix them all in one edit instead of one restart per mistake.
type ValidationError struct {
	// Problems are "<JSON pointer>: <message>" lines ordered by pointer, so
	// a parent's problems precede its children's.
	Problems []string
}

func (e *ValidationError) Error() string {
	return "invalid config:\n" + strings.Join(e.Problems, "\n")
}

// UndefinedEnvError names every ${NAME} placeholder whose variable is unset.
type UndefinedEnvError struct {
	// Names are sorted and unique.
	Names []string
}

func (e *UndefinedEnvError) Error() string {
	return "config: undefined environment variable(s): " + strings.Join(e.Names, ", ")
}

// Load reads the config file at path and hands it to Parse. A nil lookupEnv
// means os.LookupEnv.
func Load(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data, lookupEnv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse expands ${NAME} placeholders, validates the document against
// schema.json, decodes it, applies defaults and runs the semantic checks of
// Validate. A nil lookupEnv means os.LookupEnv.
//
// Errors are an unwrapped *UndefinedEnvError or *ValidationError, except for
// a broken embedded schema, which is a programming error. The semantic
// checks only run once the document satisfies the schema, because until
// then it cannot be decoded reliably.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	expanded, err := expandEnv(data, lookupEnv)
	if err != nil {
		return nil, err
	}

	doc, err := decodeGeneric(expanded)
	if err != nil {
		return nil, &ValidationError{Problems: []string{err.Error()}}
	}

	sch, err := compiledSchema()
	if err != nil {
		return nil, err
	}
	// Decoding into the typed struct is skipped after a schema failure: its
	// errors would only repeat the schema's, less precisely.
	if err := sch.Validate(doc); err != nil {
		return nil, &ValidationError{Problems: schemaProblems(err)}
	}

	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(expanded))
	// Redundant with additionalProperties:false unless schema.json and the
	// struct drift apart; then this catches it at runtime too.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, &ValidationError{Problems: []string{decodeProblem(err)}}
	}

	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Default returns the built-in single-node configuration: a local SQLite
// database and no external services. configs/local.json spells out the same.
func Default() *Config {
	cfg := &Config{HTTPHost: EmbeddedHTTPHost, Database: Database{Primary: DefaultDatabasePrimary}}
	cfg.applyDefaults()
	return cfg
}

// Validate runs the checks JSON Schema cannot express: database URLs that
// the drivers will accept, replica and primary of the same kind, service
// URLs with a host, and consistent cluster ports. It also re-checks the
// exactly-one discovery rule so configs built in Go get the same guarantee.
// All problems are returned together as a *ValidationError.
func (c *Config) Validate() error {
	var problems []problem
	add := func(path, format string, args ...any) {
		problems = append(problems, problem{path, fmt.Sprintf(format, args...)})
	}

	primaryKind, _, err := ParseDatabaseURL(c.Database.Primary)
	if err != nil {
		add("/database/primary", "%v", err)
	}
	if c.Database.ReadonlyReplica != "" {
		replicaKind, _, err := ParseDatabaseURL(c.Database.ReadonlyReplica)
		switch {
		case err != nil:
			add("/database/readonlyReplica", "%v", err)
		case primaryKind != "" && replicaKind != primaryKind:
			add("/database/readonlyReplica", "must be the same kind as primary (%s), got %s", primaryKind, replicaKind)
		}
	}

	if c.Heartbeat != nil {
		checkServiceURL(add, "/heartbeat/url", c.Heartbeat.URL)
	}
	if c.Redis != nil {
		checkServiceURL(add, "/redis/url", c.Redis.URL)
	}
	if c.ClickHouse != nil {
		checkServiceURL(add, "/clickhouse/url", c.ClickHouse.URL)
	}
	if f := c.Logs.Format; f != "" && f != LogFormatText && f != LogFormatJSON {
		add("/logs/format", "must be %q or %q, got %q", LogFormatText, LogFormatJSON, f)
	}
	if l := c.Logs.Level; l != "" && !slices.Contains(LogLevels, l) {
		add("/logs/level", "must be one of %q, got %q", LogLevels, l)
	}
	if t := c.Tracing; t != nil {
		checkServiceURL(add, "/tracing/endpoint", t.Endpoint)
		if r := t.SampleRate; r != nil && (*r < 0 || *r > 1) {
			add("/tracing/sampleRate", "must be between 0 and 1, got %v", *r)
		}
	}

	if cl := c.Cluster; cl != nil {
		rpc := checkPort(add, "/cluster/rpcPort", cl.RPCPort)
		gossip := checkPort(add, "/cluster/gossipPort", cl.GossipPort)
		if rpc != 0 && rpc == gossip {
			add("/cluster/gossipPort", "must differ from rpcPort (both %d)", rpc)
		}
		if rpc != 0 && rpc == c.HTTPPort {
			add("/cluster/rpcPort", "must differ from httpPort (both %d)", rpc)
		}
		if gossip != 0 && gossip == c.HTTPPort {
			add("/cluster/gossipPort", "must differ from httpPort (both %d)", gossip)
		}
		// Left empty by a config built in Go: the cluster layer reads it as open.
		if m := cl.FailMode; m != "" && m != FailModeOpen && m != FailModeClosed {
			add("/cluster/failMode", "must be one of %q, %q", FailModeOpen, FailModeClosed)
		}

		d := cl.Discovery
		switch {
		case d.Static == nil && d.Redis == nil:
			add("/cluster/discovery", "must set exactly one discovery method (static or redis), got none")
		case d.Static != nil && d.Redis != nil:
			add("/cluster/discovery", "must set exactly one discovery method (static or redis), got both")
		case d.Redis != nil:
			checkServiceURL(add, "/cluster/discovery/redis/url", d.Redis.URL)
		case len(d.Static.Addrs) == 0:
			add("/cluster/discovery/static/addrs", "must list at least one address")
		}
	}

	c.checkCombinations(add)

	seen := map[string]bool{}
	for i, m := range c.Migrations {
		if seen[m.ID] {
			add(fmt.Sprintf("/migrations/%d/id", i), "duplicate migration id %q", m.ID)
		}
		seen[m.ID] = true
		if m.Algorithm != MigrationPrefixedAPIKey && m.Algorithm != MigrationSHA256 {
			add(fmt.Sprintf("/migrations/%d/algorithm", i), "must be %q or %q, got %q", MigrationPrefixedAPIKey, MigrationSHA256, m.Algorithm)
		}
	}

	if len(problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: render(problems)}
}

func (c *Config) applyDefaults() {
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.HTTPPort == 0 {
		c.HTTPPort = DefaultHTTPPort
	}
	if c.MaxRequestBodySize == 0 {
		c.MaxRequestBodySize = DefaultMaxRequestBodySize
	}
	srv := &c.Server
	srv.ReadHeaderTimeoutMs = cmp.Or(srv.ReadHeaderTimeoutMs, DefaultReadHeaderTimeoutMs)
	srv.ReadTimeoutMs = cmp.Or(srv.ReadTimeoutMs, DefaultReadTimeoutMs)
	srv.WriteTimeoutMs = cmp.Or(srv.WriteTimeoutMs, DefaultWriteTimeoutMs)
	srv.IdleTimeoutMs = cmp.Or(srv.IdleTimeoutMs, DefaultIdleTimeoutMs)
	srv.MaxHeaderBytes = cmp.Or(srv.MaxHeaderBytes, DefaultMaxHeaderBytes)
	c.Readiness.MaxLagEvents = cmp.Or(c.Readiness.MaxLagEvents, DefaultReadinessMaxLagEvents)
	c.Readiness.TimeoutMs = cmp.Or(c.Readiness.TimeoutMs, DefaultReadinessTimeoutMs)
	if c.Projections.PollIntervalMs == 0 {
		c.Projections.PollIntervalMs = DefaultPollIntervalMs
	}
	if c.Redis != nil && c.Redis.KeyPrefix == "" {
		c.Redis.KeyPrefix = DefaultRedisKeyPrefix
	}
	if len(c.Migrations) == 0 {
		c.Migrations = nil // "migrations": [] and no list mean the same
	}
	if c.Analytics.BufferSize == 0 {
		c.Analytics.BufferSize = DefaultAnalyticsBuffer
	}
	if c.Analytics.Retention == 0 {
		c.Analytics.Retention = DefaultAnalyticsRetention
	}
	if c.Analytics.BatchSize == 0 {
		c.Analytics.BatchSize = DefaultAnalyticsBatchSize
	}
	if c.Analytics.FlushIntervalMs == 0 {
		c.Analytics.FlushIntervalMs = DefaultAnalyticsFlushMs
	}
	if c.Analytics.InsertBatchSize == 0 {
		c.Analytics.InsertBatchSize = DefaultInsertBatchSize
	}
	if c.Analytics.InsertFlushIntervalMs == 0 {
		c.Analytics.InsertFlushIntervalMs = DefaultInsertFlushMs
	}
	if cl := c.Cluster; cl != nil {
		if cl.NodeID == "" {
			cl.NodeID = randomNodeID()
		}
		if cl.RPCPort == "" {
			cl.RPCPort = DefaultRPCPort
		}
		if cl.GossipPort == "" {
			cl.GossipPort = DefaultGossipPort
		}
		if cl.FailureTimeoutMs == 0 {
			cl.FailureTimeoutMs = DefaultFailureTimeoutMs
		}
		if cl.ForwardTimeoutMs == 0 {
			cl.ForwardTimeoutMs = DefaultForwardTimeoutMs
		}
		if cl.FailMode == "" {
			cl.FailMode = DefaultClusterFailMode
		}
		if r := cl.Discovery.Redis; r != nil && r.KeyPrefix == "" {
			r.KeyPrefix = DefaultClusterKeyPrefix
		}
	}
}

func randomNodeID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24; it crashes instead
	return "node_" + hex.EncodeToString(b[:])
}

// checkServiceURL requires an absolute URL with a host. URL parse errors are
// reduced to their cause because url.Error repeats the URL, and with it any
// password it carries.
func checkServiceURL(add func(path, format string, args ...any), path, raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		add(path, "is not a valid URL: %v", err)
		return
	}
	if u.Host == "" {
		add(path, "URL has no host")
	}
}

// checkPort returns the port number, or 0 after reporting why there is none.
// An empty value is skipped: it means "use the default" for configs that
// have not been through Parse.
func checkPort(add func(path, format string, args ...any), path, raw string) int {
	if raw == "" {
		return 0
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 65535 {
		add(path, "must be a port number between 1 and 65535, got %q", raw)
		return 0
	}
	return n
}

// --- environment expansion ---

var placeholderRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv substitutes placeholders in the raw text, before JSON parsing,
// so a variable can also supply a number (e.g. "httpPort": ${PORT}). Values
// are JSON-string-escaped because placeholders normally sit inside a JSON
// string, where a quote or backslash in a password would otherwise break
// the document. The substitution is a single pass: values are never
// re-scanned, so a value containing "${X}" stays literal.
func expandEnv(data []byte, lookupEnv func(string) (string, bool)) ([]byte, error) {
	var missing []string
	out := placeholderRE.ReplaceAllFunc(data, func(m []byte) []byte {
		name := string(m[2 : len(m)-1])
		val, ok := lookupEnv(name)
		if !ok {
			missing = append(missing, name)
			return m
		}
		quoted, _ := json.Marshal(val) // a string always marshals
		return quoted[1 : len(quoted)-1]
	})
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, &UndefinedEnvError{Names: slices.Compact(missing)}
	}
	return out, nil
}

// --- JSON decoding ---

// decodeGeneric parses the document for schema validation. json.Number keeps
// integers exact, which "type": "integer" and large byte sizes rely on.
func decodeGeneric(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		var serr *json.SyntaxError
		switch {
		case errors.As(err, &serr):
			return nil, fmt.Errorf("syntax error at %s: %v", position(data, serr.Offset), serr)
		case errors.Is(err, io.EOF):
			return nil, errors.New("syntax error: document is empty")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("syntax error at %s: unexpected end of document", position(data, int64(len(data))+1))
		default:
			return nil, fmt.Errorf("syntax error: %v", err)
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("syntax error at %s: unexpected content after the top-level value", position(data, dec.InputOffset()))
	}
	return doc, nil
}

// position turns the count of bytes consumed up to and including the
// offending one into a 1-based "line L, column C"; columns count characters,
// not bytes, to match what editors show. An offset past the end names the
// column just after the last character, where more input was expected.
func position(data []byte, offset int64) string {
	past := 0
	if offset > int64(len(data)) {
		past = int(offset - int64(len(data)))
		offset = int64(len(data))
	}
	before := data[:max(offset, 0)]
	line := bytes.Count(before, []byte{'\n'}) + 1
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	col := max(utf8.RuneCount(before[lineStart:])+past, 1)
	return fmt.Sprintf("line %d, column %d", line, col)
}

func decodeProblem(err error) string {
	var terr *json.UnmarshalTypeError
	if errors.As(err, &terr) && terr.Field != "" {
		return "/" + strings.ReplaceAll(terr.Field, ".", "/") + ": cannot be stored as " + terr.Type.String() + " (got JSON " + terr.Value + ")"
	}
	return "decode: " + err.Error()
}
