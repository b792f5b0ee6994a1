package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/testenv"
)

func TestAPILifecycle(t *testing.T) {
	t.Parallel()
	ts := startServer(t, sqliteConfig(t))

	status, body := ts.get(t, "/v2/liveness")
	if status != 200 || !bytes.Contains(body, []byte(`"data":{"message":"we're cooking"}`)) {
		t.Fatalf("liveness: %d %s", status, body)
	}

	id := ts.createAPI(t, ts.RootKey, "payments (prod)")

	// The events a request appends carry the request ID its answer shows.
	status, r := ts.call(t, ts.RootKey, "apis.createApi", map[string]string{"name": "audited"})
	if status != 200 {
		t.Fatalf("createApi: %d %+v", status, r.Error)
	}
	var created struct{ APIID string }
	_ = json.Unmarshal(r.Data, &created)
	var meta string
	if err := ts.Server.Store.DB().Primary.QueryRowContext(context.Background(),
		"SELECT meta FROM events WHERE stream_id = ?", events.APIStreamID(created.APIID)).Scan(&meta); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(meta, `"requestId":"`+r.Meta.RequestID+`"`) {
		t.Fatalf("api.created meta = %s, want request ID %s", meta, r.Meta.RequestID)
	}

	var got struct{ ID, Name string }
	ts.must(t, ts.RootKey, "apis.getApi", map[string]string{"apiId": id}, &got)
	if got.ID != id || got.Name != "payments (prod)" {
		t.Fatalf("getApi = %+v", got)
	}

	status, r = ts.call(t, ts.RootKey, "apis.listKeys", map[string]any{"apiId": id, "limit": 10})
	if status != 200 || string(r.Data) != "[]" || r.Pagination == nil || r.Pagination.HasMore || r.Pagination.Cursor != "" {
		t.Fatalf("listKeys: %d data=%s pagination=%+v", status, r.Data, r.Pagination)
	}

	status, r = ts.call(t, ts.RootKey, "apis.deleteApi", map[string]string{"apiId": id})
	if status != 200 || string(r.Data) != "{}" {
		t.Fatalf("deleteApi: %d %s", status, r.Data)
	}
	status, r = ts.call(t, ts.RootKey, "apis.deleteApi", map[string]string{"apiId": id})
	expectError(t, status, r, 404, "unkey/data/api_not_found")
	if r.Error.Detail != "The requested API does not exist or has been deleted." {
		t.Fatalf("detail = %q", r.Error.Detail)
	}
	status, r = ts.call(t, ts.RootKey, "apis.getApi", map[string]string{"apiId": id})
	expectError(t, status, r, 404, "unkey/data/api_not_found")
	status, r = ts.call(t, ts.RootKey, "apis.listKeys", map[string]string{"apiId": id})
	expectError(t, status, r, 404, "unkey/data/api_not_found")

	for path, allow := range map[string]string{"/v2/apis.createApi": "POST", "/v2/liveness": "GET"} {
		method := http.MethodGet
		if allow == "GET" {
			method = http.MethodDelete
		}
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != allow {
			t.Fatalf("%s %s: %d Allow=%q", method, path, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if status, body := ts.get(t, "/v2/nope"); status != 404 || string(body) != "404 page not found\n" {
		t.Fatalf("unknown path: %d %q", status, body)
	}

	// openapi.yaml must describe exactly what keyline serves: every operation
	// in it has a route, and a path it lacks is not routed.
	status, spec := ts.get(t, "/openapi.yaml")
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(spec, &doc); status != 200 || err != nil || len(doc.Paths) < 5 {
		t.Fatalf("openapi.yaml: status %d, %d paths, err %v", status, len(doc.Paths), err)
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			req, _ := http.NewRequest(strings.ToUpper(method), ts.URL+path, strings.NewReader(`{}`))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == 404 || resp.StatusCode == 405 {
				t.Fatalf("openapi.yaml describes %s %s, which answers %d", method, path, resp.StatusCode)
			}
		}
	}
	if _, ok := doc.Paths["/v2/deploy.createDeployment"]; ok {
		t.Fatal("openapi.yaml describes deploy.createDeployment, which keyline does not serve")
	}
	if status, _ := ts.get(t, "/v2/deploy.createDeployment"); status != 404 {
		t.Fatalf("an operation outside openapi.yaml answers %d, want 404", status)
	}
}

func TestDeleteProtectedAPI(t *testing.T) {
	t.Parallel()
	ts := startServer(t, sqliteConfig(t))
	id := ts.createAPI(t, ts.RootKey, "guarded")
	// There is no endpoint for the guard (Unkey sets it from its dashboard),
	// so the test appends the event the way a future endpoint would.
	var api events.API
	recs, err := ts.Server.Store.Load(context.Background(), events.APIStreamID(id))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		e, _ := r.Decode()
		api.Apply(e)
	}
	decided, err := api.SetDeleteProtection(api.WorkspaceID, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Server.Store.Append(context.Background(), events.APIStreamID(id), api.Version, events.Metadata{}, decided...); err != nil {
		t.Fatal(err)
	}
	status, r := ts.call(t, ts.RootKey, "apis.deleteApi", map[string]string{"apiId": id})
	expectError(t, status, r, 412, "unkey/application/protected_resource")
	if r.Error.Title != "Resource is protected" ||
		r.Error.Detail != "This API has delete protection enabled. Disable it before attempting to delete." {
		t.Fatalf("412 error = %+v", r.Error)
	}
	ts.must(t, ts.RootKey, "apis.getApi", map[string]string{"apiId": id}, nil)
}

func TestBadRequestsGetEnvelopesNeverServerErrors(t *testing.T) {
	t.Parallel()
	ts := startServer(t, sqliteConfig(t))
	id := ts.createAPI(t, ts.RootKey, "target")
	bearer := "Bearer " + ts.RootKey
	huge := append([]byte(`{"name":"`), bytes.Repeat([]byte("a"), 11<<20)...)
	huge = append(huge, []byte(`"}`)...)
	cases := []struct {
		name       string
		op         string
		auth       string
		body       string
		raw        []byte
		wantStatus int
		wantType   string
		wantLoc    string
	}{
		{"malformed json", "apis.createApi", bearer, `{"name":`, nil, 400, "unkey/application/invalid_input", "/"},
		{"empty body", "apis.createApi", bearer, ``, nil, 400, "unkey/application/invalid_input", "/"},
		{"not an object", "apis.createApi", bearer, `[1,2]`, nil, 400, "unkey/application/invalid_input", "/type"},
		{"wrong type", "apis.createApi", bearer, `{"name":42}`, nil, 400, "unkey/application/invalid_input", "/properties/name/type"},
		{"name too short", "apis.createApi", bearer, `{"name":"ab"}`, nil, 400, "unkey/application/invalid_input", "/properties/name/minLength"},
		{"unknown field", "apis.createApi", bearer, `{"name":"abc","color":"red"}`, nil, 400, "unkey/application/invalid_input", "/additionalProperties"},
		{"missing field", "apis.getApi", bearer, `{}`, nil, 400, "unkey/application/invalid_input", "/required"},
		{"limit out of range", "apis.listKeys", bearer, `{"apiId":"` + id + `","limit":0}`, nil, 400, "unkey/application/invalid_input", "/properties/limit/minimum"},
		{"oversize body", "apis.createApi", bearer, "", huge, 413, "user/bad_request/request_body_too_large", ""},
		{"missing authorization", "apis.createApi", "", `{"name":"abc"}`, nil, 400, "unkey/application/invalid_input", ""},
		{"basic instead of bearer", "apis.createApi", "Basic dXNlcjpwYXNz", `{"name":"abc"}`, nil, 400, "unkey/authentication/malformed", ""},
		{"bearer without token", "apis.createApi", "Bearer   ", `{"name":"abc"}`, nil, 400, "unkey/authentication/malformed", ""},
		{"garbled token", "apis.createApi", "Bearer \xff\xfe%%garbage!!", `{"name":"abc"}`, nil, 401, "unkey/authentication/key_not_found", ""},
		{"unknown root key", "apis.getApi", "Bearer kl_root_doesnotexist", `{"apiId":"` + id + `"}`, nil, 401, "unkey/authentication/key_not_found", ""},
		{"unknown api", "apis.getApi", bearer, `{"apiId":"api_doesnotexist"}`, nil, 404, "unkey/data/api_not_found", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.raw
			if body == nil {
				body = []byte(tc.body)
			}
			status, r := ts.raw(t, tc.op, tc.auth, body)
			expectError(t, status, r, tc.wantStatus, tc.wantType)
			if tc.wantStatus == 400 && r.Error.Errors == nil {
				t.Fatal("400 without errors[]")
			}
			if tc.wantLoc != "" {
				found := false
				for _, e := range r.Error.Errors {
					found = found || strings.HasSuffix(e.Location, tc.wantLoc)
				}
				if !found {
					t.Fatalf("no error at location %s: %+v", tc.wantLoc, r.Error.Errors)
				}
			}
		})
	}
	// The server is still healthy after all of that.
	ts.must(t, ts.RootKey, "apis.getApi", map[string]string{"apiId": id}, nil)
}

func TestRootKeyPermissions(t *testing.T) {
	t.Parallel()
	cfg := sqliteConfig(t)
	ts := startServer(t, cfg)
	id := ts.createAPI(t, ts.RootKey, "perm target")
	admin, cleanup, err := keyline.InitializeAdmin(context.Background(), cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	mint := func(perms ...string) string {
		k, err := admin.MintRootKey(context.Background(), "default", perms)
		if err != nil {
			t.Fatal(err)
		}
		return k.RootKey
	}
	reader := mint("api.*.read_api")
	specific := mint("api."+id+".read_api", "api."+id+".delete_api")
	literalStar := mint("*")

	status, r := ts.call(t, reader, "apis.createApi", map[string]string{"name": "nope"})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
	if r.Error.Title != "Insufficient Permissions" || r.Error.Detail != "Missing permission: 'api.*.create_api'" {
		t.Fatalf("403 = %+v", r.Error)
	}
	ts.must(t, reader, "apis.getApi", map[string]string{"apiId": id}, nil)
	status, r = ts.call(t, reader, "apis.deleteApi", map[string]string{"apiId": id})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
	if r.Error.Detail != "Missing one of these permissions: api.*.delete_api or api."+id+".delete_api" {
		t.Fatalf("403 detail = %q", r.Error.Detail)
	}
	// listKeys masks a missing read_key permission as the API's 404.
	status, r = ts.call(t, reader, "apis.listKeys", map[string]string{"apiId": id})
	expectError(t, status, r, 404, "unkey/data/api_not_found")

	// "*" alone grants nothing: permissions match exactly.
	status, r = ts.call(t, literalStar, "apis.getApi", map[string]string{"apiId": id})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")

	// A per-API grant works for that API only.
	other := ts.createAPI(t, ts.RootKey, "other api")
	ts.must(t, specific, "apis.getApi", map[string]string{"apiId": id}, nil)
	status, r = ts.call(t, specific, "apis.getApi", map[string]string{"apiId": other})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
	ts.must(t, specific, "apis.deleteApi", map[string]string{"apiId": id}, nil)
}

func TestWorkspaceIsolation(t *testing.T) {
	t.Parallel()
	cfg := sqliteConfig(t)
	ts := startServer(t, cfg)
	idA := ts.createAPI(t, ts.RootKey, "workspace A api")

	admin, cleanup, err := keyline.InitializeAdmin(context.Background(), cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	b, err := admin.MintRootKey(context.Background(), "workspace-b", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"apis.getApi", "apis.deleteApi", "apis.listKeys"} {
		status, r := ts.call(t, b.RootKey, op, map[string]string{"apiId": idA})
		expectError(t, status, r, 404, "unkey/data/api_not_found")
	}
	// B's own API is invisible to A the same way.
	idB := ts.createAPI(t, b.RootKey, "workspace B api")
	status, r := ts.call(t, ts.RootKey, "apis.getApi", map[string]string{"apiId": idB})
	expectError(t, status, r, 404, "unkey/data/api_not_found")
	// A's API survived B's delete attempt.
	var got struct{ Name string }
	ts.must(t, ts.RootKey, "apis.getApi", map[string]string{"apiId": idA}, &got)
	if got.Name != "workspace A api" {
		t.Fatalf("A's api = %+v", got)
	}
}

// createKey reads the API from a node-local cache: once an API is deleted,
// the node that deleted it refuses keys for it at once, and another node
// sharing the database as soon as its tailer reads the deletion.
func TestDeleteApiRefusesNewKeysOnEveryNode(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	api := a.createAPI(t, a.RootKey, "short-lived")
	// Both nodes have the API cached.
	a.createKey(t, a.RootKey, map[string]any{"apiId": api})
	b.createKey(t, b.RootKey, map[string]any{"apiId": api})

	a.must(t, a.RootKey, "apis.deleteApi", map[string]string{"apiId": api}, nil)
	status, r := a.call(t, a.RootKey, "keys.createKey", map[string]any{"apiId": api})
	expectError(t, status, r, 404, "unkey/data/api_not_found")
	if r.Error.Detail != "The specified API was not found." {
		t.Fatalf("detail = %q", r.Error.Detail)
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		status, r := b.call(t, b.RootKey, "keys.createKey", map[string]any{"apiId": api})
		return status == 404 && r.Error != nil && strings.HasSuffix(r.Error.Type, "unkey/data/api_not_found"),
			fmt.Sprintf("node B answers createKey in the deleted API with %d %+v", status, r.Error)
	})
}
