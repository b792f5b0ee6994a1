package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHandlerChain runs the whole HTTP handler (body limit, validation,
// decoding, authentication, use case, store, encoding) of the operation the
// input picks, in process on an SQLite server, without a socket. The
// placeholders of the corpus (API_ID, KEY_ID, KEY_PLAIN, ...) in a body are
// replaced by the fixtures' IDs, so that inputs reach real objects.
// Whatever the input: no panic, no 5xx, and the exact envelope.
//
//	go test -run XXX -fuzz FuzzHandlerChain -fuzztime 5m ./cmd/keyline/
func FuzzHandlerChain(f *testing.F) {
	ts := startServer(f, sqliteConfig(f))
	ids := hostileFixtures(f, ts)
	for i, op := range hostileOps {
		f.Add(uint8(i), uint8(0), []byte(op.body))
		f.Add(uint8(i), uint8(1), []byte(op.body))
		// A few mutations of every member.
		for name, valid := range members(op.body) {
			for _, m := range memberMutations(valid) {
				switch m.name {
				case "null", "zero", "maxint64+1", "lone-high-surrogate", "emoji", "nested-10k":
					f.Add(uint8(i), uint8(0), []byte(mutateMember(op.body, name, m.raw)))
				}
			}
		}
	}
	h := ts.Server.HTTP.Handler()
	f.Fuzz(func(t *testing.T, op, auth uint8, body []byte) {
		name := hostileOps[int(op)%len(hostileOps)].name
		c := hostileCase{name: name, method: http.MethodPost, path: "/v2/" + name, body: []byte(ids.Replace(string(body)))}
		req := httptest.NewRequest(c.method, c.path, bytes.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		switch auth % 3 {
		case 0:
			req.Header.Set("Authorization", "Bearer "+ts.RootKey)
		case 1:
			req.Header.Set("Authorization", "Bearer kl_unknown")
		}
		before := ts.Logs.Len()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		msg := checkAnswer(c, rec.Code, rec.Header(), rec.Body.Bytes())
		if logs := ts.Logs.Since(before); strings.Contains(logs, "panic") {
			msg += " the server logged a panic: " + truncate(logs, 2000)
		}
		if msg == "" {
			return
		}
		t.Fatalf("%s %q: %s", name, truncate(string(c.body), 500), msg)
	})
}
