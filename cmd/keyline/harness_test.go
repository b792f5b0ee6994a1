package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/runtime"
	"github.com/keyline/keyline/infra/testenv"
	"github.com/keyline/keyline/projections"
)

// testServer is a keyline API server running inside the test process on a
// free port, with a root key of every permission known in advance.
type testServer struct {
	URL     string
	RootKey string
	Server  *runtime.Server
	// Logs is everything the server logged, for tests that assert on it.
	Logs *syncBuffer
}

// sqliteConfig is the embedded default pointed at a fresh file.
func sqliteConfig(t testing.TB) *configs.Config {
	t.Helper()
	cfg := configs.Default()
	cfg.Database.Primary = "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")
	return cfg
}

// postgresConfig points at a fresh PostgreSQL database of its own.
func postgresConfig(t *testing.T) *configs.Config {
	t.Helper()
	cfg := configs.Default()
	cfg.Database.Primary = testenv.FreshPostgresDatabase(t)
	return cfg
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Len and Since let a test look at what was logged after a point without
// copying the whole log each time.
func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *syncBuffer) Since(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf.Bytes()[n:])
}

// startServer runs keyline on cfg until the test ends.
func startServer(t testing.TB, cfg *configs.Config) *testServer {
	t.Helper()
	cfg.HTTPPort = 0
	rootKey := cfg.Bootstrap
	if rootKey == nil {
		cfg.Bootstrap = &configs.Bootstrap{RootKey: "kl_root_test_" + handlers.NewID("k")}
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	srv, cleanup, err := keyline.InitializeServer(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), io.Discard)
	if err != nil {
		cancel()
		t.Fatalf("starting server: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	_, port, _ := net.SplitHostPort(srv.HTTP.Addr().String())
	ts := &testServer{URL: "http://127.0.0.1:" + port, RootKey: cfg.Bootstrap.RootKey, Server: srv, Logs: logs}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with error: %v", err)
		}
		cleanup()
		if t.Failed() {
			t.Logf("server logs:\n%s", logs.String())
		}
	})
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		status, _ := ts.get(t, "/v2/liveness")
		return status == 200, fmt.Sprintf("liveness answered %d", status)
	})
	return ts
}

var client = &http.Client{Timeout: 30 * time.Second}

// response is a decoded Unkey envelope.
type response struct {
	Meta struct {
		RequestID string `json:"requestId"`
	} `json:"meta"`
	Data       json.RawMessage `json:"data"`
	Pagination *struct {
		HasMore bool   `json:"hasMore"`
		Cursor  string `json:"cursor"`
	} `json:"pagination"`
	Error *struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Status int    `json:"status"`
		Type   string `json:"type"`
		Errors []struct {
			Location string `json:"location"`
			Message  string `json:"message"`
		} `json:"errors"`
	} `json:"error"`
}

func (ts *testServer) get(t testing.TB, path string) (int, []byte) {
	t.Helper()
	resp, err := client.Get(ts.URL + path)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// raw posts body to /v2/op with the given Authorization header ("" = none).
func (ts *testServer) raw(t testing.TB, op, auth string, body []byte) (int, response) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.URL+"/v2/"+op, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", op, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("POST %s: status %d, body is not the JSON envelope: %q", op, resp.StatusCode, b)
	}
	if r.Meta.RequestID == "" || !strings.HasPrefix(r.Meta.RequestID, "req_") {
		t.Fatalf("POST %s: missing meta.requestId in %s", op, b)
	}
	return resp.StatusCode, r
}

// call posts v as JSON with key as the bearer root key.
func (ts *testServer) call(t *testing.T, key, op string, v any) (int, response) {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return ts.raw(t, op, "Bearer "+key, body)
}

// must posts and fails the test unless the answer is 200; it decodes data
// into out when out is not nil.
func (ts *testServer) must(t *testing.T, key, op string, v any, out any) {
	t.Helper()
	status, r := ts.call(t, key, op, v)
	if status != 200 {
		t.Fatalf("%s: status %d, error %+v", op, status, r.Error)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatalf("%s: decoding data %s: %v", op, r.Data, err)
		}
	}
}

func (ts *testServer) createAPI(t *testing.T, key, name string) string {
	t.Helper()
	var out struct {
		APIID string `json:"apiId"`
	}
	ts.must(t, key, "apis.createApi", map[string]string{"name": name}, &out)
	if !strings.HasPrefix(out.APIID, "api_") {
		t.Fatalf("createApi returned id %q", out.APIID)
	}
	return out.APIID
}

// expectError asserts status and error type of a failed call.
func expectError(t *testing.T, status int, r response, wantStatus int, wantType string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status = %d, want %d (error %+v)", status, wantStatus, r.Error)
	}
	if r.Error == nil {
		t.Fatalf("status %d without an error object", status)
	}
	if want := "https://unkey.com/docs/errors/" + wantType; r.Error.Type != want {
		t.Fatalf("error type = %s, want %s", r.Error.Type, want)
	}
	if r.Error.Status != wantStatus || r.Error.Title == "" || r.Error.Detail == "" {
		t.Fatalf("incomplete error object: %+v", r.Error)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// dumpReadModels returns every row of every projection's tables, rendered
// as text, in primary-key order: two dumps are equal exactly when the read
// models hold the same rows.
func dumpReadModels(t *testing.T, db interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, p := range projections.All() {
		for _, table := range p.Tables() {
			rows, err := db.QueryContext(context.Background(), "SELECT * FROM "+table+" ORDER BY 1")
			if err != nil {
				t.Fatalf("dumping %s: %v", table, err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				var b strings.Builder
				for i, v := range vals {
					if bs, ok := v.([]byte); ok {
						v = string(bs)
					}
					fmt.Fprintf(&b, "%s=%v;", cols[i], v)
				}
				out[table] = append(out[table], b.String())
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			rows.Close()
		}
	}
	return out
}

func assertSameRows(t *testing.T, before, after map[string][]string) {
	t.Helper()
	for table, rows := range before {
		if len(after[table]) != len(rows) {
			t.Fatalf("%s: %d rows before replay, %d after", table, len(rows), len(after[table]))
		}
		for i := range rows {
			if rows[i] != after[table][i] {
				t.Fatalf("%s row %d differs after replay:\nbefore %s\nafter  %s", table, i, rows[i], after[table][i])
			}
		}
	}
	if len(after) != len(before) {
		t.Fatalf("tables before %d, after %d", len(before), len(after))
	}
}

func (ts *testServer) createKey(t *testing.T, root string, body map[string]any) (id, key string) {
	t.Helper()
	var out struct{ KeyID, Key string }
	ts.must(t, root, "keys.createKey", body, &out)
	if !strings.HasPrefix(out.KeyID, "key_") || out.Key == "" {
		t.Fatalf("createKey returned %+v", out)
	}
	return out.KeyID, out.Key
}

// verification is keys.verifyKey's data as a client reads it.
type verification struct {
	Valid       bool
	Code        string
	KeyID       string `json:"keyId"`
	Name        string
	Enabled     *bool
	Expires     *int64
	Credits     *int64
	Meta        map[string]any
	Permissions []string
	Roles       []string
	Identity    *struct {
		ID         string `json:"id"`
		ExternalID string `json:"externalId"`
	}
	Ratelimits []struct {
		ID, Name         string
		Exceeded         bool
		Limit, Remaining int64
		Duration, Reset  int64
	}
	// Fields are the members present on the wire, sorted: Unkey omits
	// what does not apply, and the tests check that too.
	Fields []string `json:"-"`
}

// String is the answer as JSON, for failure messages.
func (v verification) String() string {
	b, _ := json.Marshal(v)
	return string(b)
}

// credits is the remaining balance, -1 when the answer carries none.
func (v verification) credits() int64 {
	if v.Credits == nil {
		return -1
	}
	return *v.Credits
}

// externalID is the identity's external ID, "" without an identity.
func (v verification) externalID() string {
	if v.Identity == nil {
		return ""
	}
	return v.Identity.ExternalID
}

// keyInfo is keys.getKey's data as a client reads it.
type keyInfo struct {
	KeyID       string `json:"keyId"`
	Start       string
	Name        string
	Enabled     bool
	Expires     *int64
	CreatedAt   int64
	UpdatedAt   *int64
	Meta        map[string]any
	Permissions []string
	Roles       []string
	Credits     *struct {
		Remaining *int64
		Refill    *struct {
			Interval  string
			Amount    int64
			RefillDay *int
		}
	}
	Identity *struct {
		ID         string `json:"id"`
		ExternalID string `json:"externalId"`
	}
	Ratelimits []struct {
		ID, Name        string
		Limit, Duration int64
		AutoApply       bool
	}
	// Fields are the members present on the wire, sorted.
	Fields []string `json:"-"`
}

func (ts *testServer) getKey(t *testing.T, keyID string) keyInfo {
	t.Helper()
	status, r := ts.call(t, ts.RootKey, "keys.getKey", map[string]any{"keyId": keyID})
	if status != 200 {
		t.Fatalf("getKey %s: %d %+v", keyID, status, r.Error)
	}
	var out keyInfo
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Fatalf("decoding %s: %v", r.Data, err)
	}
	out.Fields = keysOf(dataMap(t, r.Data))
	return out
}

// verify answers keys.verifyKey's data, typed, with the names of the
// members present, so tests can assert which fields are there at all.
func (ts *testServer) verify(t *testing.T, root string, body map[string]any) verification {
	t.Helper()
	status, r := ts.call(t, root, "keys.verifyKey", body)
	if status != 200 {
		t.Fatalf("verifyKey: status %d, error %+v", status, r.Error)
	}
	var out verification
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Fatalf("decoding %s: %v", r.Data, err)
	}
	out.Fields = keysOf(dataMap(t, r.Data))
	if out.Valid != (out.Code == "VALID") {
		t.Fatalf("valid/code disagree: %s", r.Data)
	}
	return out
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func dataMap(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return m
}

func mintRootKey(t *testing.T, cfg *configs.Config, workspace string, perms ...string) string {
	t.Helper()
	return mintIn(t, cfg, workspace, perms...).RootKey
}

func bothDatabases(t *testing.T, run func(t *testing.T, cfg *configs.Config)) {
	t.Run("sqlite", func(t *testing.T) { run(t, sqliteConfig(t)) })
	t.Run("postgres", func(t *testing.T) { run(t, postgresConfig(t)) })
}

func (ts *testServer) createIdentity(t *testing.T, root string, body map[string]any) string {
	t.Helper()
	var out struct {
		IdentityID string `json:"identityId"`
	}
	ts.must(t, root, "identities.createIdentity", body, &out)
	if !strings.HasPrefix(out.IdentityID, "id_") {
		t.Fatalf("createIdentity returned %q", out.IdentityID)
	}
	return out.IdentityID
}

func (ts *testServer) createPermission(t *testing.T, root, slug string) string {
	t.Helper()
	var out struct {
		PermissionID string `json:"permissionId"`
	}
	ts.must(t, root, "permissions.createPermission", map[string]any{"slug": slug, "name": slug + " name"}, &out)
	return out.PermissionID
}

func (ts *testServer) createRole(t *testing.T, root, name string, perms ...string) string {
	t.Helper()
	var out struct {
		RoleID string `json:"roleId"`
	}
	body := map[string]any{"name": name}
	if perms != nil {
		body["permissions"] = perms
	}
	ts.must(t, root, "permissions.createRole", body, &out)
	return out.RoleID
}

// mintIn mints a root key in workspace (created on first use) and returns
// its workspace ID with it.
func mintIn(t *testing.T, cfg *configs.Config, workspace string, perms ...string) handlers.MintedRootKey {
	t.Helper()
	admin, cleanup, err := keyline.InitializeAdmin(context.Background(), cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	k, err := admin.MintRootKey(context.Background(), workspace, perms)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
