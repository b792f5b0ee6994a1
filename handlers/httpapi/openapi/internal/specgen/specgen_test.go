package specgen

import (
	"bytes"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const src = `# leading comment that must not survive
openapi: 3.1.0
info:
  title: Unkey API
  version: 2.0.0
servers:
  - url: https://api.unkey.com
security:
  - bearer: []
tags:
  - name: apis
  - name: keys
x-speakeasy-retries:
  strategy: backoff
paths:
  /v2/apis.createApi:
    post:
      operationId: apis.createApi
      tags: [apis]
      requestBody:
        content:
          application/json:
            schema:
              "$ref": "#/components/schemas/CreateApi"
      x-speakeasy-name-override: createApi
  /v2/keys.createKey:
    post:
      operationId: keys.createKey
      tags: [keys]
      security:
        - portal: []
      requestBody:
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/CreateKey'
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
    portal: {type: apiKey, in: cookie, name: s}
  schemas:
    CreateApi:
      type: object
      properties:
        meta: {$ref: "#/components/schemas/Meta"}
    Meta:
      type: object
      properties:
        inner: {$ref: "#/components/schemas/Inner"}
    Inner: {type: string}
    CreateKey: {type: object}
  responses:
    Unused: {description: x}
`

func prune(t *testing.T, doc string, ops ...string) *yaml.Node {
	t.Helper()
	out, err := Prune([]byte(doc), ops)
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(out, &n); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, out)
	}
	return n.Content[0]
}

func keys(n *yaml.Node) []string {
	var ks []string
	for i := 0; n != nil && i < len(n.Content); i += 2 {
		ks = append(ks, n.Content[i].Value)
	}
	return ks
}

func TestPruneKeepsTransitiveComponents(t *testing.T) {
	root := prune(t, src, "apis.createApi")

	if got := strings.Join(keys(root), ","); got != "components,info,openapi,paths,security,servers,tags" {
		t.Errorf("top-level keys = %s", got)
	}
	if got := strings.Join(keys(mapValue(root, "paths")), ","); got != "/v2/apis.createApi" {
		t.Errorf("paths = %s", got)
	}
	comps := mapValue(root, "components")
	if got := strings.Join(keys(mapValue(comps, "schemas")), ","); got != "CreateApi,Inner,Meta" {
		t.Errorf("schemas = %s, want CreateApi,Inner,Meta", got)
	}
	if got := strings.Join(keys(mapValue(comps, "securitySchemes")), ","); got != "bearer" {
		t.Errorf("securitySchemes = %s, want bearer", got)
	}
	if mapValue(comps, "responses") != nil {
		t.Error("unreferenced responses kept")
	}
	if got := scalarValue(mapValue(mapValue(root, "info"), "title")); got != Title {
		t.Errorf("title = %q", got)
	}
	if got := scalarValue(mapValue(mapValue(root, "servers").Content[0], "url")); got != Server {
		t.Errorf("server = %q", got)
	}
	tags := mapValue(root, "tags")
	if len(tags.Content) != 1 || scalarValue(mapValue(tags.Content[0], "name")) != "apis" {
		t.Errorf("tags not filtered to the kept operations")
	}
}

func TestPruneOperationSecurityKeepsScheme(t *testing.T) {
	root := prune(t, src, "keys.createKey")
	schemes := keys(mapValue(mapValue(root, "components"), "securitySchemes"))
	if strings.Join(schemes, ",") != "bearer,portal" {
		t.Errorf("securitySchemes = %v, want bearer (top-level) and portal (operation)", schemes)
	}
}

func TestPruneUnknownOperation(t *testing.T) {
	_, err := Prune([]byte(src), []string{"apis.createApi", "apis.nope"})
	if err == nil || !strings.Contains(err.Error(), "apis.nope") {
		t.Fatalf("err = %v, want it to name apis.nope", err)
	}
}

func TestPruneDanglingRef(t *testing.T) {
	bad := strings.Replace(src, `"#/components/schemas/Meta"`, `"#/components/schemas/Missing"`, 1)
	if _, err := Prune([]byte(bad), []string{"apis.createApi"}); err == nil {
		t.Fatal("dangling $ref accepted")
	}
}

func TestPruneDeterministic(t *testing.T) {
	a, err := Prune([]byte(src), []string{"apis.createApi", "keys.createKey"})
	if err != nil {
		t.Fatal(err)
	}
	// Same content, different key order and quoting.
	reordered := strings.Replace(src, "openapi: 3.1.0\ninfo:\n  title: Unkey API\n  version: 2.0.0\n",
		"info:\n  version: 2.0.0\n  title: 'Unkey API'\nopenapi: 3.1.0\n", 1)
	b, err := Prune([]byte(reordered), []string{"keys.createKey", "apis.createApi"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("output depends on source order or quoting:\n%s\n---\n%s", a, b)
	}
	if bytes.Contains(a, []byte("leading comment")) {
		t.Error("source comments leaked into the output")
	}
}

func TestGenerateHeader(t *testing.T) {
	out, err := Generate([]byte(src), "ref.yaml", "out.yaml", []string{"apis.createApi"})
	if err != nil {
		t.Fatal(err)
	}
	want := Header + "\n# go run ./handlers/httpapi/openapi/gen -src ref.yaml -out out.yaml -ops apis.createApi\n"
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("header = %q, want %q", strings.SplitAfterN(string(out), "\n", 3)[:2], want)
	}
}
