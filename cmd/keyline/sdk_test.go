package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/testenv"
)

// sdkDir returns a directory holding Unkey's official TypeScript SDK
// (@unkey/api, pinned in testdata/sdk/package.json) and keyline's conformance
// scripts. The npm install is cached across runs under the user cache dir.
func sdkDir(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required for the SDK conformance suite: %v", tool, err)
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "keyline", "sdk-conformance")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile("testdata/sdk/package.json")
	if err != nil {
		t.Fatal(err)
	}
	installed, _ := os.ReadFile(filepath.Join(dir, "package.json"))
	_, statErr := os.Stat(filepath.Join(dir, "node_modules", "@unkey", "api", "package.json"))
	if string(installed) != string(manifest) || statErr != nil {
		if err := os.WriteFile(filepath.Join(dir, "package.json"), manifest, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		install := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--no-package-lock")
		install.Dir = dir
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("npm install @unkey/api: %v\n%s", err, out)
		}
	}
	scripts, _ := filepath.Glob("testdata/sdk/*.test.mjs")
	for _, s := range scripts {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(s)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSDKConformance runs every testdata/sdk/*.test.mjs with node's test
// runner against a fresh keyline server.
func TestSDKConformance(t *testing.T) {
	dir := sdkDir(t)
	cfg := sqliteConfig(t)
	// keys.test.mjs imports keys under this migrationId.
	cfg.Migrations = []configs.Migration{{ID: "sdk_mig", Algorithm: configs.MigrationPrefixedAPIKey}}
	// portal.test.mjs reads a zero-filled series from portal.getVerifications.
	cfg.ClickHouse = &configs.ClickHouse{URL: testenv.FreshClickHouseDatabase(t)}
	ts := startServer(t, cfg)
	portalAPI := ts.createAPI(t, ts.RootKey, "sdk portal")
	admin, cleanup, err := keyline.InitializeAdmin(context.Background(), cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	reader, err := admin.MintRootKey(context.Background(), "default", []string{"api.*.read_api"})
	cleanup()
	if err != nil {
		t.Fatal(err)
	}
	// Only this tree's scripts: the cache directory is shared by every
	// checkout on the machine, and may hold another branch's scripts.
	own, _ := filepath.Glob("testdata/sdk/*.test.mjs")
	var scripts []string
	for _, s := range own {
		scripts = append(scripts, filepath.Join(dir, filepath.Base(s)))
	}
	if len(scripts) == 0 {
		t.Fatal("no conformance scripts found")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"--test", "--test-reporter=spec"}, scripts...)
	node := exec.CommandContext(ctx, "node", args...)
	node.Dir = dir
	node.Env = append(os.Environ(),
		"KEYLINE_URL="+ts.URL,
		"KEYLINE_ROOT_KEY="+ts.RootKey,
		"KEYLINE_READONLY_ROOT_KEY="+reader.RootKey,
		"KEYLINE_PORTAL_ID="+portalFor(t, cfg, portalAPI),
		"KEYLINE_PORTAL_API_ID="+portalAPI,
	)
	out, err := node.CombinedOutput()
	if err != nil {
		t.Fatalf("SDK conformance failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "fail 0") {
		t.Fatalf("unexpected node test output:\n%s", out)
	}
	t.Logf("SDK conformance:\n%s", out)
}
