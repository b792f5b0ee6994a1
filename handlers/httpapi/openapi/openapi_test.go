package openapi

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/keyline/keyline/handlers/httpapi/openapi/internal/specgen"
)

func parseSpec(t *testing.T) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(Spec(), &doc); err != nil {
		t.Fatalf("embedded spec is not YAML: %v", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatal("embedded spec is not a YAML mapping")
	}
	return doc.Content[0]
}

func get(n *yaml.Node, key string) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.MappingNode && i < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func TestSpecOperations(t *testing.T) {
	root := parseSpec(t)
	var got []string
	paths := get(root, "paths")
	for i := 0; i < len(paths.Content); i += 2 {
		item := paths.Content[i+1]
		for j := 0; j < len(item.Content); j += 2 {
			got = append(got, strings.ToUpper(item.Content[j].Value)+" "+paths.Content[i].Value)
		}
	}
	slices.Sort(got)
	want := []string{
		"GET /v2/liveness",
		"POST /v2/analytics.getRatelimits",
		"POST /v2/analytics.getVerifications",
		"POST /v2/apis.createApi",
		"POST /v2/apis.deleteApi",
		"POST /v2/apis.getApi",
		"POST /v2/apis.listKeys",
		"POST /v2/identities.createIdentity",
		"POST /v2/identities.deleteIdentity",
		"POST /v2/identities.getIdentity",
		"POST /v2/identities.listIdentities",
		"POST /v2/identities.updateIdentity",
		"POST /v2/keys.addPermissions",
		"POST /v2/keys.addRoles",
		"POST /v2/keys.createKey",
		"POST /v2/keys.deleteKey",
		"POST /v2/keys.getKey",
		"POST /v2/keys.migrateKeys",
		"POST /v2/keys.removePermissions",
		"POST /v2/keys.removeRoles",
		"POST /v2/keys.rerollKey",
		"POST /v2/keys.setPermissions",
		"POST /v2/keys.setRoles",
		"POST /v2/keys.updateCredits",
		"POST /v2/keys.updateKey",
		"POST /v2/keys.verifyKey",
		"POST /v2/keys.whoami",
		"POST /v2/permissions.createPermission",
		"POST /v2/permissions.createRole",
		"POST /v2/permissions.deletePermission",
		"POST /v2/permissions.deleteRole",
		"POST /v2/permissions.getPermission",
		"POST /v2/permissions.getRole",
		"POST /v2/permissions.listPermissions",
		"POST /v2/permissions.listRoles",
		"POST /v2/permissions.setRolePermissions",
		"POST /v2/portal.createSession",
		"POST /v2/portal.exchangeCode",
		"POST /v2/portal.getVerifications",
		"POST /v2/portal.listKeys",
		"POST /v2/portal.rerollKey",
		"POST /v2/ratelimit.deleteOverride",
		"POST /v2/ratelimit.getOverride",
		"POST /v2/ratelimit.limit",
		"POST /v2/ratelimit.listOverrides",
		"POST /v2/ratelimit.multiLimit",
		"POST /v2/ratelimit.setOverride",
	}
	if !slices.Equal(got, want) {
		t.Errorf("operations = %v, want %v", got, want)
	}

	if title := get(get(root, "info"), "title"); title == nil || title.Value != "keyline API" {
		t.Errorf("info.title = %v, want keyline API", title)
	}
	if url := get(get(root, "servers").Content[0], "url"); url.Value != "http://localhost:7070" {
		t.Errorf("servers[0].url = %q", url.Value)
	}
	if get(root, "security") == nil {
		t.Error("top-level security was dropped")
	}
	for i := 0; i < len(root.Content); i += 2 {
		if strings.HasPrefix(root.Content[i].Value, "x-speakeasy-") {
			t.Errorf("top-level %s kept", root.Content[i].Value)
		}
	}
	// Only what the served operations reach survives.
	if get(get(get(root, "components"), "schemas"), "V2AnalyticsGetGatewayRequestsRequestBody") != nil {
		t.Error("unreferenced schema V2AnalyticsGetGatewayRequestsRequestBody kept")
	}
	// The portal routes name portalSession, so it stays; a scheme no
	// served operation names would be dropped.
	if get(get(get(root, "components"), "securitySchemes"), "portalSession") == nil {
		t.Error("security scheme portalSession of the portal routes dropped")
	}
	if !bytes.HasPrefix(Spec(), []byte(specgen.Header+"\n# go run ")) {
		t.Error("spec does not start with the generated-code header and command line")
	}
}

// TestSpecRefsResolve walks every $ref: a dangling one would make the served
// spec unloadable for clients and the validator.
func TestSpecRefsResolve(t *testing.T) {
	root := parseSpec(t)
	refs := 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i < len(n.Content); i += 2 {
				if n.Content[i].Value == "$ref" && n.Content[i+1].Kind == yaml.ScalarNode {
					refs++
					if _, err := specgen.Resolve(root, n.Content[i+1].Value); err != nil {
						t.Error(err)
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
	if refs == 0 {
		t.Error("no $ref found; the walk is not looking at the document")
	}
}

// generateArgs reads -src, -out and -ops from the command line recorded in
// openapi.yaml's second line: the file itself holds the one list of served
// operations, so nothing outside the repository is needed to check it.
func generateArgs(t *testing.T) (src, out string, ops []string) {
	t.Helper()
	for line := range strings.Lines(string(Spec())) {
		rest, ok := strings.CutPrefix(line, "# go run ./handlers/httpapi/openapi/gen ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "-src":
				src = f[i+1]
			case "-out":
				out = f[i+1]
			case "-ops":
				ops = strings.Split(f[i+1], ",")
			}
		}
		break
	}
	if src == "" || out == "" || len(ops) == 0 {
		t.Fatal("openapi.yaml records no generator command with -src, -out and -ops")
	}
	return src, out, ops
}

// TestSpecIsWhatTheGeneratorWrites runs the generator over the committed
// subset with the operations it records. Pruning is idempotent, so the output
// equals the file byte for byte unless openapi.yaml was edited by hand, its
// recorded command no longer matches its content, or the generator stopped
// being deterministic. Unkey's full document is not needed for this: it is
// only the input when the subset is refreshed (make openapi).
func TestSpecIsWhatTheGeneratorWrites(t *testing.T) {
	srcPath, outPath, ops := generateArgs(t)
	if outPath != "handlers/httpapi/openapi/openapi.yaml" {
		t.Errorf("the recorded command writes %s, not the embedded file", outPath)
	}
	src := Spec()
	got, err := specgen.Generate(src, srcPath, outPath, ops)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, Spec()) {
		t.Error("openapi.yaml is not what the generator writes: refresh it with make openapi instead of editing it")
	}
	reversed := slices.Clone(ops)
	slices.Reverse(reversed)
	a, err := specgen.Prune(src, ops)
	if err != nil {
		t.Fatal(err)
	}
	b, err := specgen.Prune(src, reversed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("Prune output depends on the order of ops")
	}
}
