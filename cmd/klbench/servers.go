package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/redis/go-redis/v9"

	// The "pgx" database/sql driver, for CREATE/DROP DATABASE.
	_ "github.com/jackc/pgx/v5/stdlib"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/runtime"
)

// Bodies of the bare handler: the size and shape of keyline's answers, so
// that the comparison prices keyline's work, not the bytes on the wire.
var (
	bareLimitBody  = []byte(`{"meta":{"requestId":"req_0123456789"},"data":{"success":true,"limit":1000000000,"remaining":999999999,"reset":1700000060000}}`)
	bareVerifyBody = []byte(`{"meta":{"requestId":"req_012345678"},"data":{"valid":true,"code":"VALID","keyId":"key_0123456789abcdef","enabled":true}}`)
)

// startBare serves a fixed JSON body: a verifyKey answer on /verify, a
// ratelimit.limit answer anywhere else.
func startBare() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/verify" {
			_, _ = w.Write(bareVerifyBody)
			return
		}
		_, _ = w.Write(bareLimitBody)
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// server is one in-process keyline server.
type server struct {
	base string
	srv  *runtime.Server
	stop func()
}

// startKeyline runs keyline in this process on a free loopback port with
// cfg's storage settings, until stop is called or ctx ends. Logs are
// discarded: the benchmark measures serving, not log output.
func startKeyline(ctx context.Context, edit func(*configs.Config)) (*server, error) {
	cfg := configs.Default()
	cfg.HTTPPort = 0
	cfg.Bootstrap = &configs.Bootstrap{RootKey: rootKey}
	edit(cfg)
	ctx, cancel := context.WithCancel(ctx)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, cleanup, err := keyline.InitializeServer(ctx, cfg, logger, io.Discard)
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		_ = srv.Run(ctx)
		cleanup()
		close(done)
	}()
	s := &server{srv: srv, stop: func() { cancel(); <-done }}
	_, port, _ := net.SplitHostPort(srv.HTTP.Addr().String())
	s.base = "http://127.0.0.1:" + port
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(s.base + "/v2/liveness"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
	}
	s.stop()
	return nil, fmt.Errorf("keyline on %s did not come up", s.base)
}

// call posts in to operation op with the root key and decodes the answer's
// data into out.
func (s *server) call(op string, in, out any) error {
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, s.base+"/v2/"+op, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+rootKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: status %d: %s", op, resp.StatusCode, raw)
	}
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return json.Unmarshal(env.Data, out)
}

// newAPI creates an API and returns its ID.
func (s *server) newAPI(name string) (string, error) {
	var out struct{ APIID string }
	err := s.call("apis.createApi", map[string]any{"name": name}, &out)
	return out.APIID, err
}

// validKey creates an unlimited key in api and verifies it once, so that the
// measured verifications are served from the key cache.
func (s *server) validKey(api string) (string, error) {
	var created struct{ Key string }
	if err := s.call("keys.createKey", map[string]any{"apiId": api}, &created); err != nil {
		return "", err
	}
	var v struct{ Valid bool }
	if err := s.call("keys.verifyKey", map[string]any{"key": created.Key}, &v); err != nil {
		return "", err
	}
	if !v.Valid {
		return "", fmt.Errorf("a fresh key does not verify")
	}
	return created.Key, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// withDatabase returns serviceURL with its path replaced by /name.
func withDatabase(serviceURL, name string) (string, error) {
	u, err := url.Parse(serviceURL)
	if err != nil {
		return "", err
	}
	u.Path, u.RawPath = "/"+name, ""
	return u.String(), nil
}

// adminTimeout bounds CREATE/DROP DATABASE: a wedged service fails the run
// instead of hanging it.
const adminTimeout = 30 * time.Second

// freshPostgres creates the empty database klbench_<hex> next to base's and
// returns its URL and a function that drops it (WITH (FORCE), so pooled
// connections left open do not block the drop).
func freshPostgres(base string) (string, func() error, error) {
	name := "klbench_" + randomHex(6)
	if err := pgExec(base, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("postgres %s: %w", redact(base), err)
	}
	u, err := withDatabase(base, name)
	if err != nil {
		return "", nil, err
	}
	return u, func() error { return pgExec(base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") }, nil
}

func pgExec(connURL, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	db, err := sql.Open("pgx", connURL)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// freshClickHouse creates the empty database klbench_<hex> on base's server
// and returns its URL and a function that drops it.
func freshClickHouse(base string) (string, func() error, error) {
	name := "klbench_" + randomHex(6)
	if err := chExec(base, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("clickhouse %s: %w", redact(base), err)
	}
	u, err := withDatabase(base, name)
	if err != nil {
		return "", nil, err
	}
	return u, func() error { return chExec(base, "DROP DATABASE IF EXISTS "+name) }, nil
}

func chExec(connURL, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	opts, err := clickhouse.ParseDSN(connURL)
	if err != nil {
		return err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Exec(ctx, stmt)
}

func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

// cleanRedis deletes every key under prefix and returns how many there were
// under countPrefix (itself under prefix).
func cleanRedis(url, prefix, countPrefix string) int {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return 0
	}
	client := redis.NewClient(opts)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	n := 0
	for iter.Next(ctx) {
		if len(iter.Val()) >= len(countPrefix) && iter.Val()[:len(countPrefix)] == countPrefix {
			n++
		}
		if keys = append(keys, iter.Val()); len(keys) == 1000 {
			client.Del(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		client.Del(ctx, keys...)
	}
	return n
}
