package main

import (
	"context"

	"bytes"
	"encoding/json"
	keyline "github.com/keyline/keyline"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/handlers"
)

// portalFixture is a server on a SQLite file that the CLI can open too, an
// API with keys of two end users, and a portal over that API.
type portalFixture struct {
	ts       *testServer
	config   string // config file for the CLI, same database
	apiID    string
	otherAPI string
	portalID string
	keysA    []string // user_a's keys in the portal's API
	keyB     string   // user_b's key in the portal's API
	keyAElse string   // user_a's key in an API the portal does not show
}

type createdKey struct {
	KeyID string `json:"keyId"`
	Key   string `json:"key"`
}

type portalSessionData struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

type portalExchange struct {
	AccessToken string `json:"accessToken"`
	ExpiresAt   int64  `json:"expiresAt"`
}

type portalKey struct {
	KeyID    string `json:"keyId"`
	Start    string `json:"start"`
	Name     string `json:"name"`
	Enabled  bool   `json:"enabled"`
	Identity *struct {
		ExternalID string `json:"externalId"`
	} `json:"identity"`
}

type listedPortal struct {
	PortalID string   `json:"portalId"`
	Name     string   `json:"name"`
	APIIDs   []string `json:"apiIds"`
	Deleted  bool     `json:"deleted"`
}

func newPortalFixture(t *testing.T) *portalFixture {
	t.Helper()
	db := "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")
	cfg := configs.Default()
	cfg.Database.Primary = db
	f := &portalFixture{ts: startServer(t, cfg), config: writeConfig(t, map[string]any{"database": map[string]any{"primary": db}})}
	root := f.ts.RootKey
	f.apiID = f.ts.createAPI(t, root, "payments")
	f.otherAPI = f.ts.createAPI(t, root, "internal")
	key := func(api, owner, name string) string {
		var k createdKey
		f.ts.must(t, root, "keys.createKey", map[string]any{"apiId": api, "externalId": owner, "name": name, "prefix": "sk"}, &k)
		return k.KeyID
	}
	f.keysA = []string{key(f.apiID, "user_a", "a one"), key(f.apiID, "user_a", "a two")}
	slices.Sort(f.keysA)
	f.keyB = key(f.apiID, "user_b", "b one")
	f.keyAElse = key(f.otherAPI, "user_a", "a elsewhere")

	out, errs, code := runProc(t, "portals", "create", "--config", f.config, "--workspace", "default", "--api", f.apiID, "--name", "Acme keys")
	var created handlers.CreatePortalResult
	if code != 0 || json.Unmarshal([]byte(out), &created) != nil || !strings.HasPrefix(created.PortalID, "pc_") {
		t.Fatalf("portals create: exit %d %q %s", code, out, errs)
	}
	f.portalID = created.PortalID
	return f
}

// session mints a session for externalID and returns it and its code.
func (f *portalFixture) session(t *testing.T, key, externalID string, scopes ...string) (portalSessionData, string) {
	t.Helper()
	var s portalSessionData
	f.ts.must(t, key, "portal.createSession", map[string]any{"portal": f.portalID, "externalId": externalID, "scopes": scopes}, &s)
	u, err := url.Parse(s.URL)
	if err != nil || u.Path != "/portal" || !strings.HasPrefix(u.Query().Get("code"), "pst_") || !strings.HasPrefix(s.ID, "ps_") {
		t.Fatalf("createSession = %+v", s)
	}
	return s, u.Query().Get("code")
}

// portalPost posts body to a portal route with the given headers.
func (f *portalFixture) portalPost(t *testing.T, op string, body any, headers map[string]string) (int, response, *http.Response) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/v2/"+op, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s: %d %q", op, resp.StatusCode, raw)
	}
	return resp.StatusCode, r, resp
}

func cookie(token string) map[string]string {
	return map[string]string{"Cookie": "portal_session=" + token}
}

// exchange redeems code and checks the cookie it sets.
func (f *portalFixture) exchange(t *testing.T, code string) string {
	t.Helper()
	status, r, resp := f.portalPost(t, "portal.exchangeCode", map[string]string{"code": code}, nil)
	if status != 200 {
		t.Fatalf("exchangeCode: %d %+v", status, r.Error)
	}
	var ex portalExchange
	if err := json.Unmarshal(r.Data, &ex); err != nil || !strings.HasPrefix(ex.AccessToken, "pat_") {
		t.Fatalf("exchange data %s", r.Data)
	}
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == "portal_session" {
			c = k
		}
	}
	if c == nil || c.Value != ex.AccessToken || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/v2" || c.MaxAge != 86400 || c.Secure {
		t.Fatalf("cookie %+v, want the token HttpOnly SameSite=Strict Path=/v2 Max-Age=86400, not Secure over http", c)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
	return ex.AccessToken
}

func (f *portalFixture) listKeys(t *testing.T, token string) []portalKey {
	t.Helper()
	status, r, _ := f.portalPost(t, "portal.listKeys", map[string]any{}, cookie(token))
	if status != 200 || r.Pagination == nil || r.Pagination.HasMore {
		t.Fatalf("listKeys: %d %+v %+v", status, r.Error, r.Pagination)
	}
	var keys []portalKey
	if err := json.Unmarshal(r.Data, &keys); err != nil {
		t.Fatal(err)
	}
	return keys
}

func keyIDs(keys []portalKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.KeyID)
	}
	return out
}

func TestPortalSessionFlow(t *testing.T) {
	t.Parallel()
	f := newPortalFixture(t)
	s, code := f.session(t, f.ts.RootKey, "user_a", "keys:read", "keys:reroll")
	if want := handlers.PortalPublicURL(configs.Default()) + "/portal?code="; !strings.HasPrefix(s.URL, want) {
		t.Fatalf("url %q, want it on keyline's own page %q...", s.URL, want)
	}
	token := f.exchange(t, code)

	// The code works once.
	status, r, _ := f.portalPost(t, "portal.exchangeCode", map[string]string{"code": code}, nil)
	expectError(t, status, r, 401, "unkey/authentication/portal_session_not_found")

	// Exactly user_a's keys of the portal's API.
	keys := f.listKeys(t, token)
	if got := keyIDs(keys); !slices.Equal(got, f.keysA) {
		t.Fatalf("listKeys = %v, want %v", got, f.keysA)
	}
	for _, k := range keys {
		if k.Identity == nil || k.Identity.ExternalID != "user_a" || !strings.HasPrefix(k.Start, "sk_") || !k.Enabled {
			t.Fatalf("key %+v", k)
		}
	}

	// A root key is refused on the portal routes, with or without a cookie
	// it does not have.
	status, r, _ = f.portalPost(t, "portal.listKeys", map[string]any{}, map[string]string{"Authorization": "Bearer " + f.ts.RootKey})
	expectError(t, status, r, 400, "unkey/authentication/portal_token_missing")
	status, r, _ = f.portalPost(t, "portal.listKeys", map[string]any{}, cookie(f.ts.RootKey))
	expectError(t, status, r, 401, "unkey/authentication/portal_session_not_found")

	// Reroll one's own key: the new key verifies, the old one still does
	// until its grace period ends.
	status, r, _ = f.portalPost(t, "portal.rerollKey", map[string]any{"keyId": f.keysA[0], "expiration": 0}, cookie(token))
	if status != 200 {
		t.Fatalf("rerollKey: %d %+v", status, r.Error)
	}
	var rolled createdKey
	if err := json.Unmarshal(r.Data, &rolled); err != nil || !strings.HasPrefix(rolled.Key, "sk_") || rolled.KeyID == f.keysA[0] {
		t.Fatalf("reroll data %s", r.Data)
	}
	var verified struct {
		Valid bool   `json:"valid"`
		Code  string `json:"code"`
		KeyID string `json:"keyId"`
	}
	f.ts.must(t, f.ts.RootKey, "keys.verifyKey", map[string]string{"key": rolled.Key}, &verified)
	if !verified.Valid || verified.KeyID != rolled.KeyID {
		t.Fatalf("rerolled key verifies as %+v", verified)
	}
	// The new key is user_a's and shows in the portal; the old one expired at once.
	if got := keyIDs(f.listKeys(t, token)); !slices.Contains(got, rolled.KeyID) || len(got) != 3 {
		t.Fatalf("after reroll listKeys = %v", got)
	}

	// Someone else's key, and one's own key outside the portal, are 404.
	for _, other := range []string{f.keyB, f.keyAElse, "key_doesnotexist"} {
		status, r, _ = f.portalPost(t, "portal.rerollKey", map[string]any{"keyId": other, "expiration": 0}, cookie(token))
		expectError(t, status, r, 404, "unkey/data/key_not_found")
	}

	// The session lacks analytics:read.
	status, r, _ = f.portalPost(t, "portal.getVerifications", map[string]any{"startTime": 0, "endTime": 3600000}, cookie(token))
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")

	// user_b's session sees only user_b's key and cannot reroll without the scope.
	_, codeB := f.session(t, f.ts.RootKey, "user_b", "keys:read")
	tokenB := f.exchange(t, codeB)
	if got := keyIDs(f.listKeys(t, tokenB)); !slices.Equal(got, []string{f.keyB}) {
		t.Fatalf("user_b sees %v", got)
	}
	status, r, _ = f.portalPost(t, "portal.rerollKey", map[string]any{"keyId": f.keyB, "expiration": 0}, cookie(tokenB))
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")

	// An end user without an identity yet owns nothing.
	_, codeC := f.session(t, f.ts.RootKey, "user_c", "keys:read")
	if got := f.listKeys(t, f.exchange(t, codeC)); len(got) != 0 {
		t.Fatalf("user_c sees %v", got)
	}

	// Replaying the log rebuilds the sessions as they were: the token still
	// works, the redeemed code stays redeemed.
	if out, errs, code := runProc(t, "replay", "--config", f.config); code != 0 {
		t.Fatalf("replay: exit %d %s %s", code, out, errs)
	}
	if got := keyIDs(f.listKeys(t, tokenB)); !slices.Equal(got, []string{f.keyB}) {
		t.Fatalf("after replay user_b sees %v", got)
	}
	status, r, _ = f.portalPost(t, "portal.exchangeCode", map[string]string{"code": codeB}, nil)
	expectError(t, status, r, 401, "unkey/authentication/portal_session_not_found")

	// Deleting the portal ends its sessions.
	out, errs, exit := runProc(t, "portals", "list", "--config", f.config, "--workspace", "default")
	var listed listedPortal
	if exit != 0 || json.Unmarshal([]byte(out), &listed) != nil || listed.PortalID != f.portalID || listed.Name != "Acme keys" ||
		!slices.Equal(listed.APIIDs, []string{f.apiID}) || listed.Deleted {
		t.Fatalf("portals list: exit %d %q %s", exit, out, errs)
	}
	if out, errs, exit := runProc(t, "portals", "delete", "--config", f.config, "--workspace", "default", "--id", f.portalID); exit != 0 ||
		!strings.Contains(out, `"deleted":true`) {
		t.Fatalf("portals delete: exit %d %q %s", exit, out, errs)
	}
	status, r, _ = f.portalPost(t, "portal.listKeys", map[string]any{}, cookie(token))
	expectError(t, status, r, 401, "unkey/authentication/portal_session_not_found")
	if _, errs, exit := runProc(t, "portals", "delete", "--config", f.config, "--workspace", "default", "--id", f.portalID); exit != 1 ||
		!strings.Contains(errs, "portal does not exist") {
		t.Fatalf("second delete: exit %d %s", exit, errs)
	}
}

func TestPortalCreateSessionAuthorization(t *testing.T) {
	t.Parallel()
	f := newPortalFixture(t)
	mint := func(perms ...string) string {
		return createRootKeyCLI(t, f.config, "--workspace", "default", "--permissions", strings.Join(perms, ",")).RootKey
	}
	body := func(scopes ...string) map[string]any {
		return map[string]any{"portal": f.portalID, "externalId": "user_a", "scopes": scopes}
	}
	api := f.apiID
	cases := []struct {
		name     string
		perms    []string
		scopes   []string
		status   int
		wantType string
	}{
		{"no portal permission is a 404", []string{"api.*.read_key", "api.*.read_api"}, []string{"keys:read"}, 404, "unkey/data/portal_not_found"},
		{"another portal's permission is a 404", []string{"portal.pc_other.create_portal_session", "api.*.read_key", "api.*.read_api"}, []string{"keys:read"}, 404, "unkey/data/portal_not_found"},
		{"keys:read without read_api", []string{"portal.*.create_portal_session", "api.*.read_key"}, []string{"keys:read"}, 403, "unkey/authorization/insufficient_permissions"},
		{"keys:reroll without create_key", []string{"portal.*.create_portal_session", "api.*.read_key", "api.*.read_api"}, []string{"keys:read", "keys:reroll"}, 403, "unkey/authorization/insufficient_permissions"},
		{"analytics:read without read_analytics", []string{"portal.*.create_portal_session"}, []string{"analytics:read"}, 403, "unkey/authorization/insufficient_permissions"},
		{"per-portal and per-API grants suffice", []string{"portal." + f.portalID + ".create_portal_session", "api." + api + ".read_key", "api." + api + ".read_api", "api." + api + ".create_key"}, []string{"keys:read", "keys:reroll"}, 200, ""},
		{"wildcard grants suffice", []string{"portal.*.create_portal_session", "api.*.read_analytics"}, []string{"analytics:read"}, 200, ""},
	}
	for _, c := range cases {
		key := mint(c.perms...)
		status, r := f.ts.call(t, key, "portal.createSession", body(c.scopes...))
		if c.status == 200 {
			if status != 200 {
				t.Fatalf("%s: %d %+v", c.name, status, r.Error)
			}
			continue
		}
		if r.Error == nil || status != c.status || r.Error.Type != "https://unkey.com/docs/errors/"+c.wantType {
			t.Fatalf("%s: %d %+v, want %d %s", c.name, status, r.Error, c.status, c.wantType)
		}
	}
	status, r := f.ts.call(t, f.ts.RootKey, "portal.createSession", map[string]any{"portal": "pc_missing", "externalId": "u", "scopes": []string{"keys:read"}})
	expectError(t, status, r, 404, "unkey/data/portal_not_found")
	// The schema refuses an unknown scope and a non-URL returnUrl; keyline
	// also refuses a returnUrl that is not http(s), which the page would
	// turn into a link.
	status, r = f.ts.call(t, f.ts.RootKey, "portal.createSession", map[string]any{"portal": f.portalID, "externalId": "u", "scopes": []string{"keys:delete"}})
	expectError(t, status, r, 400, "unkey/application/invalid_input")
	status, r = f.ts.call(t, f.ts.RootKey, "portal.createSession", map[string]any{"portal": f.portalID, "externalId": "u", "scopes": []string{"keys:read"}, "returnUrl": "javascript:alert(1)"})
	expectError(t, status, r, 400, "unkey/application/invalid_input")

	// A session ends when the root key that minted it is revoked.
	minter := createRootKeyCLI(t, f.config, "--workspace", "default", "--permissions", "portal.*.create_portal_session,api.*.read_key,api.*.read_api")
	var s portalSessionData
	f.ts.must(t, minter.RootKey, "portal.createSession", body("keys:read"), &s)
	u, _ := url.Parse(s.URL)
	token := f.exchange(t, u.Query().Get("code"))
	if got := keyIDs(f.listKeys(t, token)); !slices.Equal(got, f.keysA) {
		t.Fatalf("listKeys = %v", got)
	}
	rootKeysCLI(t, f.config, "revoke", "--workspace", "default", "--id", minter.RootKeyID)
	status, r, _ = f.portalPost(t, "portal.listKeys", map[string]any{}, cookie(token))
	expectError(t, status, r, 401, "unkey/authentication/portal_session_not_found")
}

func TestPortalRoutesRefuseCrossSiteRequests(t *testing.T) {
	t.Parallel()
	f := newPortalFixture(t)
	_, code := f.session(t, f.ts.RootKey, "user_a", "keys:read")
	// A forged exchange (login CSRF) is refused and does not spend the code.
	status, r, _ := f.portalPost(t, "portal.exchangeCode", map[string]string{"code": code}, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	expectError(t, status, r, 403, "unkey/authorization/forbidden")
	token := f.exchange(t, code)
	for _, h := range []map[string]string{
		{"Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Content-Type": "text/plain"},
	} {
		h["Cookie"] = "portal_session=" + token
		status, r, _ := f.portalPost(t, "portal.listKeys", map[string]any{}, h)
		expectError(t, status, r, 403, "unkey/authorization/forbidden")
	}
	// The page's own requests: same origin.
	status, _, _ = f.portalPost(t, "portal.listKeys", map[string]any{}, map[string]string{"Cookie": "portal_session=" + token,
		"Origin": f.ts.URL, "Sec-Fetch-Site": "same-origin"})
	if status != 200 {
		t.Fatalf("same-origin listKeys: %d", status)
	}
}

// portalSessionOps are the portal routes a session cookie authenticates
// (exchangeCode: the code itself); TestPortalSessionPermissions is their
// row of the permission table.
var portalSessionOps = []string{"portal.exchangeCode", "portal.listKeys", "portal.rerollKey", "portal.getVerifications"}

// portalFor opens a portal over apiID in cfg's default workspace.
func portalFor(t *testing.T, cfg *configs.Config, apiID string) string {
	t.Helper()
	admin, cleanup, err := keyline.InitializePortalAdmin(context.Background(), cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	out, err := admin.CreatePortal(context.Background(), "default", handlers.CreatePortalInput{Name: "authz", APIIDs: []string{apiID}})
	if err != nil {
		t.Fatal(err)
	}
	return out.PortalID
}

// TestPortalSessionPermissions: each portal session route needs its scope
// (403 without it, naming it), answers 200 with it, and the exchange needs
// nothing but an unspent code (401 otherwise).
func TestPortalSessionPermissions(t *testing.T) {
	t.Parallel()
	f := newPortalFixture(t)
	all := []string{"keys:read", "keys:reroll", "analytics:read"}
	rows := []struct {
		op    string
		scope string
		body  func() map[string]any
		ok    int // with the scope: analytics needs ClickHouse, which this server lacks
	}{
		{"portal.listKeys", "keys:read", func() map[string]any { return map[string]any{} }, 200},
		{"portal.rerollKey", "keys:reroll", func() map[string]any {
			var k createdKey
			f.ts.must(t, f.ts.RootKey, "keys.createKey", map[string]any{"apiId": f.apiID, "externalId": "user_a"}, &k)
			return map[string]any{"keyId": k.KeyID, "expiration": 0}
		}, 200},
		{"portal.getVerifications", "analytics:read", func() map[string]any {
			return map[string]any{"startTime": 1_700_000_000_000, "endTime": 1_700_003_600_000}
		}, 412},
	}
	for _, row := range rows {
		less := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == row.scope })
		_, code := f.session(t, f.ts.RootKey, "user_a", less...)
		status, r, _ := f.portalPost(t, row.op, row.body(), cookie(f.exchange(t, code)))
		expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
		if !strings.Contains(r.Error.Detail, row.scope) {
			t.Fatalf("%s: detail %q does not name %s", row.op, r.Error.Detail, row.scope)
		}
		_, code = f.session(t, f.ts.RootKey, "user_a", row.scope)
		status, r, _ = f.portalPost(t, row.op, row.body(), cookie(f.exchange(t, code)))
		if status != row.ok {
			t.Fatalf("%s with %s: %d %+v", row.op, row.scope, status, r.Error)
		}
		// No cookie at all.
		status, r, _ = f.portalPost(t, row.op, row.body(), nil)
		expectError(t, status, r, 400, "unkey/authentication/portal_token_missing")
	}
	status, r, _ := f.portalPost(t, "portal.exchangeCode", map[string]string{"code": "pst_unknown"}, nil)
	expectError(t, status, r, 401, "unkey/authentication/portal_session_not_found")
}

// TestPortalBrowserFlow: a browser opening createSession's URL sees
// exactly the end user's keys, its cookie works for portal.listKeys, the
// code does not work twice, and the key it rolls verifies.
func TestPortalBrowserFlow(t *testing.T) {
	f := newPortalFixture(t)
	s, _ := f.session(t, f.ts.RootKey, "user_a", "keys:read", "keys:reroll")
	u, _ := url.Parse(s.URL)
	out := runBrowser(t, "portal.mjs", f.ts.URL, "KEYLINE_PORTAL_URL="+f.ts.URL+u.RequestURI(), "KEYLINE_OTHER_KEY="+f.keyB)
	var got struct {
		Keys   []string `json:"keys"`
		NewKey string   `json:"newKey"`
	}
	line := out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]
	if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &got); err != nil {
		t.Fatalf("browser output %q: %v", out, err)
	}
	if !slices.Equal(got.Keys, f.keysA) {
		t.Fatalf("the page showed %v, want exactly user_a's %v", got.Keys, f.keysA)
	}
	var verified struct {
		Valid bool `json:"valid"`
	}
	f.ts.must(t, f.ts.RootKey, "keys.verifyKey", map[string]string{"key": got.NewKey}, &verified)
	if !verified.Valid {
		t.Fatalf("the key rolled in the browser does not verify")
	}
}
