//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyline/keyline/infra/testenv"
)

// consoleResult is what testdata/browser/console.mjs saw, step by step.
type consoleResult struct {
	WrongKeyAlert string   `json:"wrongKeyAlert"`
	APIs          []string `json:"apis"`
	KeyNames      []string `json:"keyNames"`
	SearchNames   []string `json:"searchNames"`
	ChartBuckets  int      `json:"chartBuckets"`
	ChartTotal    int      `json:"chartTotal"`
	Legend        []string `json:"legend"`
	CreatedKeyID  string   `json:"createdKeyId"`
	FirstVerify   struct {
		Code      string `json:"code"`
		Remaining int64  `json:"remaining"`
	} `json:"firstVerify"`
	BadgeAfterDisable string   `json:"badgeAfterDisable"`
	DisabledVerify    string   `json:"disabledVerify"`
	CreditsCell       string   `json:"creditsCell"`
	DeletedVerify     string   `json:"deletedVerify"`
	Namespaces        []string `json:"namespaces"`
	Overrides         []string `json:"overrides"`
	Identities        []string `json:"identities"`
	Storage           struct {
		Local   int    `json:"local"`
		Session int    `json:"session"`
		Cookie  string `json:"cookie"`
	} `json:"storage"`
}

// The console flow in headless Chromium (testdata/browser/console.mjs)
// against a cluster setup with ClickHouse, so the chart has real
// verifications to draw: sign-in, APIs by name, an API's keys by name and
// its chart, a key created, disabled, credited and deleted through the
// page, the rate-limit and identity pages, and no page error anywhere.
// With KEYLINE_SCREENSHOTS set it writes the README's screenshots.
func TestBrowserConsole(t *testing.T) {
	t.Parallel()
	cfg := analyticsConfig(t, true)
	ts := startServer(t, cfg)
	root := ts.RootKey

	payments := ts.createAPI(t, root, "payments")
	ts.createAPI(t, root, "search")
	type created struct {
		KeyID string `json:"keyId"`
		Key   string `json:"key"`
	}
	var alice, bob created
	ts.must(t, root, "keys.createKey", map[string]any{"apiId": payments, "name": "alice-laptop", "externalId": "acme"}, &alice)
	ts.must(t, root, "keys.createKey", map[string]any{"apiId": payments, "name": "bob-ci", "credits": map[string]any{"remaining": 100}}, &bob)
	ts.must(t, root, "keys.updateKey", map[string]any{"keyId": bob.KeyID, "enabled": false}, nil)
	type verified struct {
		Code string `json:"code"`
	}
	for i, key := range []string{alice.Key, alice.Key, alice.Key, bob.Key} {
		var v verified
		ts.must(t, root, "keys.verifyKey", map[string]any{"key": key}, &v)
		if want := map[bool]string{true: "DISABLED", false: "VALID"}[i == 3]; v.Code != want {
			t.Fatalf("verification %d: %s, want %s", i, v.Code, want)
		}
	}
	ts.must(t, root, "ratelimit.limit", map[string]any{"namespace": "api-calls", "identifier": "acme", "limit": 10, "duration": 60000}, nil)
	ts.must(t, root, "ratelimit.setOverride", map[string]any{"namespace": "api-calls", "identifier": "acme", "limit": 1000, "duration": 60000}, nil)

	// The chart reads the rollups: wait until the four verifications are
	// in ClickHouse.
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		status, r := ts.call(t, root, "analytics.getVerifications", map[string]any{
			"query": "SELECT sum(count) AS n FROM key_verifications_per_hour_v1"})
		return status == 200 && string(r.Data) == `[{"n":4}]`, fmt.Sprintf("%d %s", status, r.Data)
	})

	var res consoleResult
	browserResult(t, "console.mjs", ts.URL, "console flow: ok", &res,
		"KEYLINE_ROOT_KEY="+root, "KEYLINE_API_NAME=payments", "KEYLINE_EXPECT_VERIFICATIONS=4", "KEYLINE_SEARCH=alice")
	check := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}
	if !strings.Contains(res.WrongKeyAlert, "401") && !strings.Contains(strings.ToLower(res.WrongKeyAlert), "unauthorized") {
		t.Errorf("wrong key alert %q names no refusal", res.WrongKeyAlert)
	}
	apis := slices.Clone(res.APIs)
	slices.Sort(apis)
	check("APIs", apis, []string{"payments", "search"})
	names := slices.Clone(res.KeyNames)
	slices.Sort(names)
	check("keys", names, []string{"alice-laptop", "bob-ci"})
	check("search", res.SearchNames, []string{"alice-laptop"})
	check("chart buckets", res.ChartBuckets, 24)
	check("chart total", res.ChartTotal, 4)
	check("legend", res.Legend, []string{"VALID 3", "DISABLED 1"})
	if !strings.HasPrefix(res.CreatedKeyID, "key_") {
		t.Errorf("created key ID %q", res.CreatedKeyID)
	}
	check("first verification", res.FirstVerify.Code+fmt.Sprint(res.FirstVerify.Remaining), "VALID4")
	check("badge after disable", res.BadgeAfterDisable, "disabled")
	check("verification when disabled", res.DisabledVerify, "DISABLED")
	check("credits cell", res.CreditsCell, "42")
	check("verification after delete", res.DeletedVerify, "NOT_FOUND")
	check("namespaces", res.Namespaces, []string{"api-calls"})
	check("overrides", res.Overrides, []string{"acme"})
	check("identities", res.Identities, []string{"acme"})
	check("storage", res.Storage, struct {
		Local   int    `json:"local"`
		Session int    `json:"session"`
		Cookie  string `json:"cookie"`
	}{})
	// The page really deleted the key.
	status, r := ts.call(t, root, "keys.getKey", map[string]any{"keyId": res.CreatedKeyID})
	expectError(t, status, r, 404, "unkey/data/key_not_found")
}
