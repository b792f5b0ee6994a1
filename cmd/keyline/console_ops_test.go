package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// consoleAPI is one row of keyline.listApis.
type consoleAPI struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	KeySpaceID string `json:"keySpaceId"`
	CreatedAt  int64  `json:"createdAt"`
}

type consoleNamespace struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type rootKeySelf struct {
	WorkspaceID string   `json:"workspaceId"`
	RootKeyID   string   `json:"rootKeyId"`
	Permissions []string `json:"permissions"`
}

// keyline.whoami, keyline.listApis and keyline.listRatelimitNamespaces: a
// root key sees its own permissions, only the APIs and namespaces it may
// read, of its own workspace only, page by page; bad cursors and limits
// are a 400, never a 5xx; no key or an unknown one is refused.
func TestConsoleOperations(t *testing.T) {
	t.Parallel()
	cfg := sqliteConfig(t)
	ts := startServer(t, cfg)
	root := ts.RootKey
	var ids []string
	for _, name := range []string{"alpha", "beta", "gamma"} {
		ids = append(ids, ts.createAPI(t, root, name))
	}
	ts.must(t, root, "ratelimit.limit", map[string]any{"namespace": "ns-one", "identifier": "u", "limit": 1, "duration": 1000}, nil)
	ts.must(t, root, "ratelimit.limit", map[string]any{"namespace": "ns-two", "identifier": "u", "limit": 1, "duration": 1000}, nil)

	// Everything, one page, in ID order, with key spaces.
	var all []consoleAPI
	ts.must(t, root, "keyline.listApis", map[string]any{}, &all)
	var gotIDs []string
	for _, a := range all {
		gotIDs = append(gotIDs, a.ID)
		if !strings.HasPrefix(a.KeySpaceID, "ks_") || a.CreatedAt <= 0 || a.Name == "" {
			t.Errorf("incomplete row %+v", a)
		}
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(gotIDs, want) {
		t.Fatalf("listApis: %v, want %v", gotIDs, want)
	}

	// Pages of one: the cursor is the next ID, and the last page says no more.
	var seen []string
	cursor := ""
	for range 5 {
		status, r := ts.call(t, root, "keyline.listApis", map[string]any{"limit": 1, "cursor": cursor})
		if status != 200 || r.Pagination == nil {
			t.Fatalf("page: %d %+v", status, r.Error)
		}
		var page []consoleAPI
		if err := json.Unmarshal(r.Data, &page); err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			seen = append(seen, a.ID)
		}
		if !r.Pagination.HasMore {
			break
		}
		cursor = r.Pagination.Cursor
	}
	if !slices.Equal(seen, want) {
		t.Errorf("paged: %v, want %v", seen, want)
	}

	// A key for one API sees that API only, and no namespace.
	scoped := mintIn(t, cfg, "default", "api."+ids[1]+".read_api", "ratelimit.*.read_override")
	var some []consoleAPI
	ts.must(t, scoped.RootKey, "keyline.listApis", map[string]any{}, &some)
	if len(some) != 1 || some[0].ID != ids[1] || some[0].Name != "beta" {
		t.Errorf("scoped key sees %+v", some)
	}
	var self rootKeySelf
	ts.must(t, scoped.RootKey, "keyline.whoami", map[string]any{}, &self)
	if self.WorkspaceID != scoped.WorkspaceID || self.RootKeyID == "" ||
		!slices.Equal(self.Permissions, []string{"api." + ids[1] + ".read_api", "ratelimit.*.read_override"}) {
		t.Errorf("whoami: %+v", self)
	}
	var nss []consoleNamespace
	ts.must(t, scoped.RootKey, "keyline.listRatelimitNamespaces", map[string]any{}, &nss)
	if len(nss) != 2 || nss[0].Name+","+nss[1].Name != "ns-one,ns-two" && nss[0].Name+","+nss[1].Name != "ns-two,ns-one" {
		t.Errorf("namespaces: %+v", nss)
	}
	none := mintIn(t, cfg, "default", "api."+ids[0]+".create_key")
	ts.must(t, none.RootKey, "keyline.listRatelimitNamespaces", map[string]any{}, &nss)
	ts.must(t, none.RootKey, "keyline.listApis", map[string]any{}, &some)
	if len(nss) != 0 || len(some) != 0 {
		t.Errorf("a key without read grants sees %+v and %+v", some, nss)
	}

	// Another workspace's key sees none of it.
	other := mintIn(t, cfg, "other", "api.*.read_api", "ratelimit.*.read_override")
	ts.must(t, other.RootKey, "keyline.listApis", map[string]any{}, &some)
	ts.must(t, other.RootKey, "keyline.listRatelimitNamespaces", map[string]any{}, &nss)
	if len(some) != 0 || len(nss) != 0 {
		t.Errorf("another workspace sees %+v and %+v", some, nss)
	}

	// Hostile input: the envelope's 400, and no root key at all is a 401.
	for _, body := range []string{
		`{"cursor":"api_\u0000x"}`, `{"cursor":"` + strings.Repeat("a", 65) + `"}`, `{"cursor":"' OR 1=1 --"}`,
		`{"limit":0.5}`, `{"limit":101}`, `{"limit":-1}`, `{"limit":99999999999999999999}`, `{"cursor":7}`, `[]`, ``,
	} {
		for _, op := range []string{"keyline.listApis", "keyline.listRatelimitNamespaces"} {
			status, r := ts.raw(t, op, "Bearer "+root, []byte(body))
			expectError(t, status, r, 400, "unkey/application/invalid_input")
		}
	}
	// As on every /v2 route: no Authorization header is Unkey's 400, an
	// unknown key its 401.
	status, r := ts.raw(t, "keyline.whoami", "", []byte(`{}`))
	expectError(t, status, r, 400, "unkey/application/invalid_input")
	status, r = ts.raw(t, "keyline.whoami", "Bearer kl_root_unknown", []byte(`{}`))
	expectError(t, status, r, 401, "unkey/authentication/key_not_found")
}
