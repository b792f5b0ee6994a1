package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
)

// hostileMigrations declares the migration keys.migrateKeys' valid body uses.
var hostileMigrations = []configs.Migration{{ID: "hostile_mig", Algorithm: configs.MigrationPrefixedAPIKey}}

// hostileCase is one request of the corpus.
type hostileCase struct {
	name        string
	method      string
	path        string // raw request target, sent as is
	contentType string // "" = no Content-Type header
	auth        string // "" = no Authorization header
	body        []byte
	// needs names the class of defect the case guards against ("numbers":
	// NUL and integer bounds; "http": the path guard and body limits), shown
	// with its failure; "" for the rest.
	needs string
	// plain is the exact text answer an unknown path or method gets.
	plain string
}

// hostileOp is one served operation with a body that is valid against the
// fixtures (placeholders in capitals are replaced by their IDs) and the
// status that body answers.
type hostileOp struct {
	name string
	body string
	want int
}

// hostileOps lists every POST operation of the router (a test checks the
// list against the served spec). Deleting operations act on fixtures of
// their own, so that the others keep something to work on.
var hostileOps = []hostileOp{
	{"apis.createApi", `{"name":"hostile api"}`, 200},
	{"apis.getApi", `{"apiId":"API_ID"}`, 200},
	{"apis.listKeys", `{"apiId":"API_ID","limit":10,"externalId":"hostile_ext","decrypt":false,"revalidateKeysCache":false}`, 200},
	{"apis.deleteApi", `{"apiId":"DEL_API_ID"}`, 200},
	{"keys.createKey", `{"apiId":"API_ID","prefix":"hk","name":"hostile","byteLength":16,"externalId":"hostile_ext","meta":{"a":1},"roles":["hostile_role"],"permissions":["hostile.read"],"expires":4102444000000,"credits":{"remaining":10,"refill":{"interval":"daily","amount":10}},"ratelimits":[{"name":"rrr","limit":10,"duration":60000,"autoApply":true}],"enabled":true,"recoverable":false}`, 200},
	{"keys.getKey", `{"keyId":"KEY_ID","decrypt":false}`, 200},
	{"keys.whoami", `{"key":"KEY_PLAIN"}`, 200},
	{"keys.verifyKey", `{"key":"KEY_PLAIN","tags":["path=/x"],"permissions":"hostile.read","credits":{"cost":1},"ratelimits":[{"name":"requests","cost":1}]}`, 200},
	{"keys.updateKey", `{"keyId":"KEY_ID","name":"renamed","externalId":"hostile_ext","meta":{"b":2},"expires":null,"credits":{"remaining":1000000000000},"ratelimits":[{"name":"requests","limit":1000000,"duration":60000,"autoApply":true}],"enabled":true,"roles":["hostile_role"],"permissions":["hostile.read"]}`, 200},
	// "set": a value mutation must not leave the key at a balance the next
	// case's increment overflows (the overflow has cases of its own).
	{"keys.updateCredits", `{"keyId":"CREDITS_KEY_ID","operation":"set","value":1}`, 200},
	{"keys.addPermissions", `{"keyId":"KEY_ID","permissions":["hostile.read"]}`, 200},
	{"keys.removePermissions", `{"keyId":"KEY_ID","permissions":["hostile.read"]}`, 200},
	{"keys.setPermissions", `{"keyId":"KEY_ID","permissions":["hostile.read"]}`, 200},
	{"keys.addRoles", `{"keyId":"KEY_ID","roles":["hostile_role"]}`, 200},
	{"keys.removeRoles", `{"keyId":"KEY_ID","roles":["hostile_role"]}`, 200},
	{"keys.setRoles", `{"keyId":"KEY_ID","roles":["hostile_role"]}`, 200},
	{"keys.rerollKey", `{"keyId":"REROLL_KEY_ID","expiration":60000}`, 200},
	{"keys.migrateKeys", `{"migrationId":"hostile_mig","apiId":"API_ID","keys":[{"hash":"deadbeef00","name":"m","externalId":"hostile_ext","meta":{"a":1},"enabled":true,"expires":4102444000000}]}`, 200},
	{"keys.deleteKey", `{"keyId":"DEL_KEY_ID","permanent":false}`, 200},
	{"identities.createIdentity", `{"externalId":"hostile_new","meta":{"a":1},"ratelimits":[{"name":"rrr","limit":10,"duration":60000,"autoApply":false}]}`, 200},
	{"identities.getIdentity", `{"identity":"hostile_ext"}`, 200},
	{"identities.listIdentities", `{"limit":10,"search":"hostile"}`, 200},
	{"identities.updateIdentity", `{"identity":"hostile_ext","meta":{"b":2},"ratelimits":[{"name":"rrr","limit":10,"duration":60000,"autoApply":false}]}`, 200},
	{"identities.deleteIdentity", `{"identity":"hostile_del"}`, 200},
	{"permissions.createPermission", `{"name":"hostile new","slug":"hostile.new","description":"d"}`, 200},
	{"permissions.getPermission", `{"permission":"hostile.read"}`, 200},
	{"permissions.listPermissions", `{"limit":10,"search":"hostile"}`, 200},
	{"permissions.deletePermission", `{"permission":"hostile.del"}`, 200},
	{"permissions.createRole", `{"name":"hostile_new_role","description":"d","permissions":["hostile.read"]}`, 200},
	{"permissions.getRole", `{"role":"hostile_role"}`, 200},
	{"permissions.listRoles", `{"limit":10,"search":"hostile"}`, 200},
	{"permissions.setRolePermissions", `{"roleId":"ROLE_ID","permissions":["hostile.read"]}`, 200},
	{"permissions.deleteRole", `{"role":"hostile_del_role"}`, 200},
	{"ratelimit.limit", `{"namespace":"hostile_ns","identifier":"u","limit":10,"duration":60000,"cost":1}`, 200},
	{"ratelimit.multiLimit", `[{"namespace":"hostile_ns","identifier":"u","limit":10,"duration":60000,"cost":1}]`, 200},
	{"ratelimit.setOverride", `{"namespace":"hostile_ns","identifier":"u","limit":10,"duration":60000}`, 200},
	{"ratelimit.getOverride", `{"namespace":"hostile_ns","identifier":"u"}`, 200},
	{"ratelimit.listOverrides", `{"namespace":"hostile_ns","limit":10}`, 200},
	{"ratelimit.deleteOverride", `{"namespace":"hostile_ns","identifier":"del"}`, 200},
	// Without ClickHouse (and without Redis) analytics answers from the
	// local store.
	{"analytics.getVerifications", `{"query":"SELECT COUNT(*) FROM key_verifications_v1"}`, 200},
	{"analytics.getRatelimits", `{"query":"SELECT COUNT(*) FROM ratelimits_v1"}`, 200},
	// No portal exists: 404. The session routes take only the
	// portal_session cookie, so a root key gets 400 portal_token_missing
	// and an unknown code 401.
	{"portal.createSession", `{"portal":"pc_hostile_missing","externalId":"hostile_ext","scopes":["keys:read","analytics:read"],"preview":false,"returnUrl":"https://example.com/back"}`, 404},
	{"portal.exchangeCode", `{"code":"pst_hostile_unknown"}`, 401},
	{"portal.listKeys", `{"limit":10,"cursor":"key_0"}`, 400},
	{"portal.rerollKey", `{"keyId":"KEY_ID","expiration":0}`, 400},
	{"portal.getVerifications", `{"startTime":1764000000000,"endTime":1764003600000,"keyId":"KEY_ID"}`, 400},
}

// hostileFixtures creates what the valid bodies refer to and returns the
// replacer that puts their IDs into the bodies.
func hostileFixtures(t testing.TB, ts *testServer) *strings.Replacer {
	t.Helper()
	post := func(op, body string) map[string]any {
		t.Helper()
		status, r := ts.raw(t, op, "Bearer "+ts.RootKey, []byte(body))
		if status != 200 {
			t.Fatalf("fixture %s %s: %d %+v", op, body, status, r.Error)
		}
		var out map[string]any
		_ = json.Unmarshal(r.Data, &out)
		return out
	}
	api := post("apis.createApi", `{"name":"hostile"}`)["apiId"].(string)
	delAPI := post("apis.createApi", `{"name":"hostile delete"}`)["apiId"].(string)
	post("identities.createIdentity", `{"externalId":"hostile_ext"}`)
	post("identities.createIdentity", `{"externalId":"hostile_del"}`)
	post("permissions.createPermission", `{"name":"hostile.read","slug":"hostile.read"}`)
	post("permissions.createPermission", `{"name":"hostile.del","slug":"hostile.del"}`)
	role := post("permissions.createRole", `{"name":"hostile_role"}`)["roleId"].(string)
	post("permissions.createRole", `{"name":"hostile_del_role"}`)
	key := post("keys.createKey", `{"apiId":"`+api+`","externalId":"hostile_ext","permissions":["hostile.read"],"credits":{"remaining":1000000000000},"ratelimits":[{"name":"requests","limit":1000000,"duration":60000,"autoApply":false}]}`)
	reroll := post("keys.createKey", `{"apiId":"`+api+`"}`)
	del := post("keys.createKey", `{"apiId":"`+api+`"}`)
	credits := post("keys.createKey", `{"apiId":"`+api+`","credits":{"remaining":10}}`)
	overflow := post("keys.createKey", `{"apiId":"`+api+`","credits":{"remaining":10}}`)
	post("ratelimit.limit", `{"namespace":"hostile_ns","identifier":"u","limit":10,"duration":60000}`)
	post("ratelimit.setOverride", `{"namespace":"hostile_ns","identifier":"del","limit":10,"duration":60000}`)
	return strings.NewReplacer("DEL_API_ID", delAPI, "API_ID", api, "REROLL_KEY_ID", reroll["keyId"].(string),
		"DEL_KEY_ID", del["keyId"].(string),
		"CREDITS_KEY_ID", credits["keyId"].(string), "OVERFLOW_KEY_ID", overflow["keyId"].(string), "KEY_ID", key["keyId"].(string), "KEY_PLAIN", key["key"].(string), "ROLE_ID", role)
}

const (
	kib = 1 << 10
	mib = 1 << 20
)

// nested is depth nested arrays (or objects) around a zero.
func nested(depth int, object bool) string {
	open, close := "[", "]"
	if object {
		open, close = `{"a":`, "}"
	}
	return strings.Repeat(open, depth) + "0" + strings.Repeat(close, depth)
}

// valueMutation is a JSON value put in place of a member's valid value.
type valueMutation struct {
	name  string
	raw   string
	needs string
}

// stringMutations are odd strings; every one is a valid JSON string.
var stringMutations = []valueMutation{
	{"empty", `""`, ""},
	{"nul-escaped", `"a\u0000b"`, "numbers"},
	{"lone-high-surrogate", `"\ud800"`, ""},
	{"lone-low-surrogate", `"x\udfffy"`, ""},
	{"reversed-surrogates", `"\udc00\ud800"`, ""},
	{"u+ffff", `"\uffff"`, ""},
	{"u+fffe-bom", `"\ufeffa"`, ""},
	{"rtl-override", `"a\u202eb"`, ""},
	{"emoji", `"🔑😀👨‍👩‍👧"`, ""},
	{"combining", `"e\u0301\u0301\u0301"`, ""},
	{"control", `"\u0001\u001f\t\n"`, ""},
	{"sql", `"' OR 1=1; DROP TABLE keys; --"`, ""},
	{"percent", `"%s%n%x%00"`, ""},
	{"long-4k", `"` + strings.Repeat("a", 4*kib) + `"`, ""},
	{"utf8-4k", `"` + strings.Repeat("é", 2*kib) + `"`, ""},
}

// numberMutations are odd numbers; each is valid JSON.
var numberMutations = []valueMutation{
	{"zero", `0`, ""},
	{"minus-one", `-1`, ""},
	{"minus-zero", `-0`, ""},
	{"minus-zero-float", `-0.0`, ""},
	{"half", `1.5`, ""},
	{"exp", `1e3`, ""},
	{"maxint64", `9223372036854775807`, ""},
	{"minint64", `-9223372036854775808`, ""},
	{"maxint64+1", `9223372036854775808`, ""},
	{"2^64", `18446744073709551616`, ""},
	{"1e309", `1e309`, ""},
	{"-1e309", `-1e309`, ""},
	{"tiny", `1e-400`, ""},
	{"long-digits", strings.Repeat("9", 4*kib), ""},
}

// typeMutations replace a member with a value of every JSON type.
var typeMutations = []valueMutation{
	{"null", `null`, ""},
	{"true", `true`, ""},
	{"string", `"x"`, ""},
	{"number", `12`, ""},
	{"array", `[]`, ""},
	{"array-of-null", `[null]`, ""},
	{"object", `{}`, ""},
	{"object-of-odd", `{"":null,"\u0000":1}`, "numbers"},
}

// bodyMutations replace the whole body of any operation.
var bodyMutations = []struct {
	name  string
	body  func(valid string) string
	needs string
}{
	{"empty", func(string) string { return "" }, ""},
	{"whitespace", func(string) string { return " \n\t " }, ""},
	{"null", func(string) string { return "null" }, ""},
	{"empty-object", func(string) string { return "{}" }, ""},
	{"empty-array", func(string) string { return "[]" }, ""},
	{"string", func(string) string { return `"x"` }, ""},
	{"number", func(string) string { return "1" }, ""},
	{"truncated", func(v string) string { return v[:len(v)/2] }, ""},
	{"unclosed", func(string) string { return "{" }, ""},
	{"trailing-garbage", func(v string) string { return v + "x" }, ""},
	{"twice", func(v string) string { return v + v }, ""},
	{"bom", func(v string) string { return "\ufeff" + v }, ""},
	{"raw-nul", func(v string) string { return v[:1] + "\x00" + v[1:] }, ""},
	{"invalid-utf8", func(v string) string { return strings.Replace(v, `"`, "\"\xff\xfe", 1) }, ""},
	{"single-quotes", func(v string) string { return strings.ReplaceAll(v, `"`, "'") }, ""},
	{"comment", func(v string) string { return "/* c */" + v }, ""},
	{"nested-arrays-10k", func(string) string { return nested(10000, false) }, ""},
	{"nested-objects-10k", func(string) string { return nested(10000, true) }, ""},
	{"padded-256kib", func(v string) string { return v + strings.Repeat(" ", 256*kib) }, ""},
	{"many-members", func(string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range 2000 {
			fmt.Fprintf(&b, `"m%d":%d,`, i, i)
		}
		b.WriteString(`"z":0}`)
		return b.String()
	}, ""},
}

// string1MiB is put in one string member of each operation: in every
// member it would cost most of the corpus' time under -race.
var string1MiB = `"` + strings.Repeat("a", mib) + `"`

// memberMutations are applied to every member of a valid body, on top of
// the type mutations.
func memberMutations(valid json.RawMessage) []valueMutation {
	var out []valueMutation
	out = append(out, typeMutations...)
	switch valid[0] {
	case '"':
		out = append(out, stringMutations...)
	case '{':
		out = append(out, valueMutation{"nested-10k", nested(10000, false), ""},
			valueMutation{"nested-objects-10k", `{"a":` + nested(10000, true) + `}`, ""},
			valueMutation{"wide", `{` + strings.Repeat(`"k":1,`, 500) + `"k":2}`, ""})
	case '[':
		out = append(out, valueMutation{"nested-10k", nested(10000, false), ""},
			valueMutation{"many-items", `[` + strings.Repeat(`"a",`, 1000) + `"a"]`, ""})
		// The elements of a list get the string or number mutations too.
		var items []json.RawMessage
		if json.Unmarshal(valid, &items) == nil && len(items) > 0 {
			for _, m := range memberMutations(items[0]) {
				out = append(out, valueMutation{"item-" + m.name, "[" + m.raw + "]", m.needs})
			}
		}
	case 't', 'f':
	default:
		out = append(out, numberMutations...)
	}
	return out
}

// mutateMember sets member name of the object body to raw, keeping the
// others; for an array body (multiLimit) it mutates the first element.
func mutateMember(body string, name, raw string) string {
	if strings.HasPrefix(body, "[") {
		var items []json.RawMessage
		_ = json.Unmarshal([]byte(body), &items)
		items[0] = json.RawMessage(mutateMember(string(items[0]), name, raw))
		var b bytes.Buffer
		b.WriteString("[")
		for i, it := range items {
			if i > 0 {
				b.WriteString(",")
			}
			b.Write(it)
		}
		b.WriteString("]")
		return b.String()
	}
	var members map[string]json.RawMessage
	_ = json.Unmarshal([]byte(body), &members)
	names := make([]string, 0, len(members)+1)
	for n := range members {
		names = append(names, n)
	}
	if _, ok := members[name]; !ok {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("{")
	for i, n := range names {
		if i > 0 {
			b.WriteString(",")
		}
		q, _ := json.Marshal(n)
		b.Write(q)
		b.WriteString(":")
		if n == name {
			b.WriteString(raw)
		} else {
			b.Write(members[n])
		}
	}
	b.WriteString("}")
	return b.String()
}

// members lists the members of a valid body (of its first element for an
// array body) with their valid values.
func members(body string) map[string]json.RawMessage {
	if strings.HasPrefix(body, "[") {
		var items []json.RawMessage
		_ = json.Unmarshal([]byte(body), &items)
		body = string(items[0])
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal([]byte(body), &m)
	return m
}

// numbersNeeds tags number mutations that would overflow ratelimit and
// credit arithmetic on the members that feed it.
func numbersNeeds(member, mutation string) string {
	big := map[string]bool{"maxint64": true, "maxint64+1": true, "2^64": true, "minint64": true, "1e309": true,
		"-1e309": true, "long-digits": true, "exp": true}
	if !big[mutation] && !strings.HasPrefix(mutation, "item-") {
		return ""
	}
	switch member {
	case "limit", "cost", "duration", "value", "remaining", "credits", "expiration", "expires", "ratelimits":
		return "numbers"
	}
	return ""
}

// hostileCases generates the corpus for the fixtures' replacer.
func hostileCases(ids *strings.Replacer, rootKey string) []hostileCase {
	root := "Bearer " + rootKey
	var cases []hostileCase
	for _, op := range hostileOps {
		path := "/v2/" + op.name
		valid := ids.Replace(op.body)
		post := func(name, body, needs string) {
			cases = append(cases, hostileCase{name: op.name + "/" + name, method: http.MethodPost, path: path,
				contentType: "application/json", auth: root, body: []byte(body), needs: needs})
		}
		for _, m := range bodyMutations {
			post("body-"+m.name, m.body(valid), m.needs)
		}
		post("unknown-member", mutateMember(valid, "zzUnknown", `1`), "")
		post("unknown-member-nul", mutateMember(valid, "zz\\u0000", `"a\u0000"`), "numbers")
		mems := members(valid)
		names := make([]string, 0, len(mems))
		for n := range mems {
			names = append(names, n)
		}
		sort.Strings(names)
		big := false
		for _, name := range names {
			if !big && mems[name][0] == '"' {
				post(name+"=string-1mib", mutateMember(valid, name, string1MiB), "")
				big = true
			}
			post("without-"+name, removeMember(valid, name), "")
			for _, m := range memberMutations(mems[name]) {
				needs := m.needs
				if needs == "" {
					needs = numbersNeeds(name, m.name)
				}
				post(name+"="+m.name, mutateMember(valid, name, m.raw), needs)
			}
		}
		// Authentication and transport variations on the valid body.
		for _, a := range []struct{ name, header string }{
			{"no-auth", ""}, {"bearer-only", "Bearer"}, {"bearer-space", "Bearer "}, {"unknown-key", "Bearer kl_nope"},
			{"basic", "Basic dXNlcjpwYXNz"}, {"long-key", "Bearer " + strings.Repeat("k", 16*kib)},
			{"unicode-key", "Bearer ключ🔑"}, {"lowercase-scheme", "bearer " + rootKey}, {"double-space", "Bearer  " + rootKey},
		} {
			cases = append(cases, hostileCase{name: op.name + "/auth-" + a.name, method: http.MethodPost, path: path,
				contentType: "application/json", auth: a.header, body: []byte(valid)})
		}
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16", "multipart/form-data; boundary=x"} {
			cases = append(cases, hostileCase{name: op.name + "/content-type=" + ct, method: http.MethodPost, path: path,
				contentType: ct, auth: root, body: []byte(valid)})
		}
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
			cases = append(cases, hostileCase{name: op.name + "/method-" + method, method: method, path: path,
				contentType: "application/json", auth: root, body: []byte(valid), plain: "Method Not Allowed\n"})
		}
	}
	// Credits that add up past int64 (twice MaxInt64 on one key).
	for i, body := range []string{
		`{"keyId":"OVERFLOW_KEY_ID","operation":"increment","value":9223372036854775807}`,
		`{"keyId":"OVERFLOW_KEY_ID","operation":"increment","value":9223372036854775807}`,
		`{"keyId":"OVERFLOW_KEY_ID","operation":"decrement","value":9223372036854775807}`,
		`{"keyId":"OVERFLOW_KEY_ID","operation":"set","value":9223372036854775807}`,
		`{"keyId":"OVERFLOW_KEY_ID","operation":"increment","value":1}`,
	} {
		cases = append(cases, hostileCase{name: fmt.Sprintf("keys.updateCredits/overflow-%d", i), method: http.MethodPost,
			path: "/v2/keys.updateCredits", contentType: "application/json", auth: root, body: []byte(ids.Replace(body)), needs: "numbers"})
	}
	notFound := "404 page not found\n"
	for _, p := range []struct {
		path, method, plain, needs string
	}{
		{"/v2/liveness%00", http.MethodGet, "", "http"},
		{"/v2/liveness%00", http.MethodPost, "", "http"},
		{"/v2/keys.verifyKey%00", http.MethodPost, "", "http"},
		{"//v2/keys.verifyKey", http.MethodPost, notFound, ""},
		{"//v2/liveness", http.MethodGet, notFound, ""},
		{"/v2/../v2/liveness", http.MethodGet, notFound, ""},
		{"/v2/./liveness", http.MethodGet, notFound, ""},
		{"/v2/liveness/", http.MethodGet, "", ""},
		{"/v2/LIVENESS", http.MethodGet, notFound, ""},
		{"/v2/liveness?x=%00&y=" + strings.Repeat("q", 4*kib), http.MethodGet, "", ""},
		{"/v2/keys%2EverifyKey", http.MethodPost, "", ""},
		{"/v2/keys.verifyKey%2F", http.MethodPost, notFound, ""},
		{"/v2/keys.verifyKey/extra", http.MethodPost, notFound, ""},
		{"/v2/%ff%fe", http.MethodPost, notFound, ""},
		{"/v2/%", http.MethodPost, "", ""},
		{"/v2/" + url.PathEscape("ключ🔑\u202e"), http.MethodPost, notFound, ""},
		{"/v2/" + strings.Repeat("a", 64*kib), http.MethodPost, notFound, ""},
		{"/" + strings.Repeat("a/", 8*kib), http.MethodGet, notFound, ""},
		{"/", http.MethodGet, notFound, ""},
		{"/v2", http.MethodGet, notFound, ""},
		{"/v2/", http.MethodPost, notFound, ""},
		{"/v3/liveness", http.MethodGet, notFound, ""},
		{"/v1/keys.verifyKey", http.MethodPost, notFound, ""},
		{"/v2/liveness", http.MethodPost, "Method Not Allowed\n", ""},
		{"/v2/liveness", http.MethodDelete, "Method Not Allowed\n", ""},
		{"/openapi.yaml", http.MethodPost, "Method Not Allowed\n", ""},
		{"*", http.MethodOptions, "", ""},
	} {
		cases = append(cases, hostileCase{name: "path " + p.method + " " + truncate(p.path, 40), method: p.method, path: p.path,
			contentType: "application/json", auth: root, body: []byte("{}"), plain: p.plain, needs: p.needs})
	}
	return cases
}

func removeMember(body, name string) string {
	if strings.HasPrefix(body, "[") {
		var items []map[string]json.RawMessage
		_ = json.Unmarshal([]byte(body), &items)
		delete(items[0], name)
		b, _ := json.Marshal(items)
		return string(b)
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal([]byte(body), &m)
	delete(m, name)
	b, _ := json.Marshal(m)
	return string(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("…(%d bytes)", len(s))
}

// sendHostile sends c to base over a connection of its own and returns the
// status, the headers and the body of the answer. The request is written
// byte for byte, so that the target reaches the server exactly as written
// (net/http's client would clean or reinterpret "//v2/..." and "*").
func sendHostile(base string, c hostileCase) (int, http.Header, []byte, error) {
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return 0, nil, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %d\r\n", c.method, c.path, host, len(c.body))
	if c.contentType != "" {
		fmt.Fprintf(&head, "Content-Type: %s\r\n", c.contentType)
	}
	if c.auth != "" {
		fmt.Fprintf(&head, "Authorization: %s\r\n", c.auth)
	}
	head.WriteString("\r\n")
	w := bufio.NewWriter(conn)
	_, _ = w.WriteString(head.String())
	_, _ = w.Write(c.body)
	if err := w.Flush(); err != nil {
		return 0, nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: c.method})
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// checkAnswer returns what is wrong with an answer, or "".
func checkAnswer(c hostileCase, status int, header http.Header, body []byte) string {
	if status >= 500 {
		return fmt.Sprintf("status %d: %s", status, truncate(string(body), 300))
	}
	ct := header.Get("Content-Type")
	if c.plain != "" && (status == 404 || status == 405) {
		if string(body) != c.plain || !strings.HasPrefix(ct, "text/plain") {
			return fmt.Sprintf("status %d %q (%s), want the plain %q", status, truncate(string(body), 200), ct, c.plain)
		}
		return ""
	}
	switch {
	case status == 404 || status == 405:
		// The router's own plain answers for unknown paths and methods.
		if string(body) == "404 page not found\n" || string(body) == "Method Not Allowed\n" {
			return ""
		}
	case status == 301 || status == 308 || (c.method == http.MethodOptions && c.path == "*"):
		return ""
	case status == 400 && strings.HasPrefix(string(body), "400 Bad Request"):
		// net/http's own answer to a request target it cannot parse.
		return ""
	case c.path == "/openapi.yaml" && status == 200:
		return ""
	}
	if ct != "application/json" && ct != "application/problem+json" {
		return fmt.Sprintf("status %d with Content-Type %q: %s", status, ct, truncate(string(body), 200))
	}
	return checkEnvelope(status, body)
}

// checkEnvelope checks the exact shape of Unkey's envelope: meta.requestId
// always; data (and pagination) on success; on failure an error object of
// title, detail, status, type, and errors on a 400 only.
func checkEnvelope(status int, body []byte) string {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return fmt.Sprintf("status %d, body is not a JSON object: %s", status, truncate(string(body), 200))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(top["meta"], &m); err != nil || len(m) != 1 {
		return fmt.Sprintf("meta is not {requestId}: %s", truncate(string(body), 200))
	}
	var rid string
	if json.Unmarshal(m["requestId"], &rid) != nil || !strings.HasPrefix(rid, "req_") {
		return fmt.Sprintf("meta.requestId is %s", m["requestId"])
	}
	if status < 300 {
		for k := range top {
			if k != "meta" && k != "data" && k != "pagination" {
				return fmt.Sprintf("success answer with member %q", k)
			}
		}
		return ""
	}
	if len(top) != 2 || top["error"] == nil {
		return fmt.Sprintf("error answer is not {meta,error}: %s", truncate(string(body), 300))
	}
	var e map[string]json.RawMessage
	if err := json.Unmarshal(top["error"], &e); err != nil {
		return fmt.Sprintf("error is not an object: %s", top["error"])
	}
	var p struct {
		Title, Detail, Type string
		Status              int
		Errors              []map[string]json.RawMessage
	}
	_ = json.Unmarshal(top["error"], &p)
	if p.Title == "" || p.Detail == "" || p.Status != status || !strings.HasPrefix(p.Type, "https://unkey.com/docs/errors/") {
		return fmt.Sprintf("incomplete error object for status %d: %s", status, top["error"])
	}
	for k := range e {
		switch k {
		case "title", "detail", "status", "type":
		case "errors":
			if status != 400 {
				return fmt.Sprintf("status %d error with errors: %s", status, top["error"])
			}
		default:
			return fmt.Sprintf("error member %q: %s", k, top["error"])
		}
	}
	if _, ok := e["errors"]; status == 400 && (!ok || p.Errors == nil) {
		return fmt.Sprintf("400 without an errors array: %s", top["error"])
	}
	for _, fe := range p.Errors {
		if fe["location"] == nil || fe["message"] == nil {
			return fmt.Sprintf("field error without location or message: %s", top["error"])
		}
	}
	return ""
}

// runHostile sends every case to ts in order and checks each answer and
// the server log it caused.
func runHostile(t *testing.T, ts *testServer, cases []hostileCase) {
	t.Helper()
	fail := func(c hostileCase, msg string) {
		t.Helper()
		if c.needs != "" {
			msg = fmt.Sprintf("[%s] %s", c.needs, msg)
		}
		t.Errorf("%s: %s", c.name, msg)
	}
	start := time.Now()
	statuses := map[int]int{}
	for _, c := range cases {
		before := ts.Logs.Len()
		status, header, body, err := sendHostile(ts.URL, c)
		if err != nil {
			fail(c, fmt.Sprintf("no answer: %v", err))
			continue
		}
		statuses[status]++
		if msg := checkAnswer(c, status, header, body); msg != "" {
			fail(c, msg)
		}
		if logs := ts.Logs.Since(before); strings.Contains(logs, "panic") {
			fail(c, "the server logged a panic: "+truncate(logs, 2000))
		}
	}
	t.Logf("%d hostile requests in %v; answers by status: %v", len(cases), time.Since(start).Round(time.Millisecond), statuses)
}

func hostileConfigured(t *testing.T, ts *testServer) []hostileCase {
	t.Helper()
	ids := hostileFixtures(t, ts)
	cases := hostileCases(ids, ts.RootKey)
	if len(cases) < 300 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	// The valid body of each operation answers as listed: the mutations
	// start from a body that reaches the handler.
	for _, op := range hostileOps {
		status, r := ts.raw(t, op.name, "Bearer "+ts.RootKey, []byte(ids.Replace(op.body)))
		if status != op.want {
			t.Fatalf("valid %s: %d %+v, want %d", op.name, status, r.Error, op.want)
		}
	}
	return cases
}

func TestHostileCorpusSQLite(t *testing.T) {
	cfg := sqliteConfig(t)
	cfg.Migrations = hostileMigrations
	ts := startServer(t, cfg)
	runHostile(t, ts, hostileConfigured(t, ts))
}

func TestHostileCorpusPostgres(t *testing.T) {
	cfg := postgresConfig(t)
	cfg.Migrations = hostileMigrations
	ts := startServer(t, cfg)
	runHostile(t, ts, hostileConfigured(t, ts))
}

// TestHostileOpsCoverTheSpec keeps hostileOps in step with the served
// operations: a new route gets corpus cases or this fails.
func TestHostileOpsCoverTheSpec(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	status, spec := ts.get(t, "/openapi.yaml")
	if status != 200 {
		t.Fatalf("GET /openapi.yaml: %d", status)
	}
	listed := map[string]bool{}
	for _, op := range hostileOps {
		listed["/v2/"+op.name] = true
	}
	served := 0
	for _, line := range strings.Split(string(spec), "\n") {
		path, ok := strings.CutSuffix(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(path, "/v2/") || !strings.HasPrefix(line, "  /") {
			continue
		}
		if path == "/v2/liveness" {
			continue
		}
		served++
		if !listed[path] {
			t.Errorf("%s is served but has no hostile corpus cases", path)
		}
	}
	if served != len(hostileOps) {
		t.Errorf("the spec serves %d POST operations, hostileOps lists %d", served, len(hostileOps))
	}
}

// TestHostileCheckerRejects shows that the corpus' checks can fail: each
// answer below breaks one rule.
func TestHostileCheckerRejects(t *testing.T) {
	op := hostileCase{method: http.MethodPost, path: "/v2/keys.getKey"}
	unknown := hostileCase{method: http.MethodPost, path: "/v2/nope", plain: "404 page not found\n"}
	js := http.Header{"Content-Type": {"application/json"}}
	text := http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	const rid = `"meta":{"requestId":"req_1"}`
	good400 := `{` + rid + `,"error":{"title":"Bad Request","detail":"d","status":400,"type":"https://unkey.com/docs/errors/unkey/application/invalid_input","errors":[{"location":"/","message":"m"}]}}`
	good404 := `{` + rid + `,"error":{"title":"Not Found","detail":"d","status":404,"type":"https://unkey.com/docs/errors/unkey/data/key_not_found"}}`
	for _, ok := range []struct {
		c      hostileCase
		status int
		header http.Header
		body   string
	}{
		{op, 400, js, good400},
		{op, 404, js, good404},
		{op, 200, js, `{` + rid + `,"data":{}}`},
		{unknown, 404, text, "404 page not found\n"},
	} {
		if msg := checkAnswer(ok.c, ok.status, ok.header, []byte(ok.body)); msg != "" {
			t.Errorf("a good answer was rejected: %s", msg)
		}
	}
	for name, bad := range map[string]struct {
		c      hostileCase
		status int
		header http.Header
		body   string
	}{
		"5xx":                   {op, 500, js, strings.ReplaceAll(good404, "404", "500")},
		"no meta":               {op, 404, js, `{"error":{"title":"Not Found","detail":"d","status":404,"type":"https://unkey.com/docs/errors/x"}}`},
		"request id":            {op, 404, js, strings.Replace(good404, "req_1", "1", 1)},
		"extra top member":      {op, 404, js, strings.Replace(good404, `{"meta"`, `{"data":null,"meta"`, 1)},
		"status mismatch":       {op, 403, js, good404},
		"errors on a 404":       {op, 404, js, strings.Replace(good404, `"status":404`, `"status":404,"errors":[]`, 1)},
		"400 without errors":    {op, 400, js, strings.Replace(good400, `,"errors":[{"location":"/","message":"m"}]`, "", 1)},
		"unknown error member":  {op, 404, js, strings.Replace(good404, `"status":404`, `"status":404,"cause":"x"`, 1)},
		"empty detail":          {op, 404, js, strings.Replace(good404, `"detail":"d"`, `"detail":""`, 1)},
		"foreign type":          {op, 404, js, strings.Replace(good404, "https://unkey.com/docs/errors/", "about:", 1)},
		"field error shape":     {op, 400, js, strings.Replace(good400, `"location":"/",`, "", 1)},
		"not json":              {op, 400, js, "oops"},
		"text error":            {op, 400, text, good400},
		"json 404 for no route": {unknown, 404, js, good404},
		"other 404 text":        {unknown, 404, text, "not found"},
	} {
		if msg := checkAnswer(bad.c, bad.status, bad.header, []byte(bad.body)); msg == "" {
			t.Errorf("%s: the checker accepted %d %s", name, bad.status, bad.body)
		}
	}
}
