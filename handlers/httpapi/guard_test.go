package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyline/keyline/handlers/httpapi/openapi"
)

type acceptAll struct{}

func (acceptAll) ValidateBody(string, []byte) *openapi.Failure { return nil }

// testRouter is the real router over empty use cases: enough for liveness,
// unknown paths, and a panic (any operation dereferences the nil
// authenticator).
func testRouter(logs io.Writer) http.Handler {
	return NewRouter(&Routes{}, acceptAll{}, Options{MaxBodyBytes: 1 << 20}, slog.New(slog.NewJSONHandler(logs, nil)))
}

// rawRequest sends a request line as given, bypassing the client's URL
// checks, and returns the status and body of the answer.
func rawRequest(t *testing.T, base, method, target string) (int, string, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, method+" "+target+" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %q: no answer: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// Regression: bunrouter panicked (index out of range) on a NUL after a
// complete route, before any keyline middleware ran: no answer at all.
func TestControlBytesInPathAnswer404(t *testing.T) {
	var logs bytes.Buffer
	srv := httptest.NewServer(testRouter(&logs))
	defer srv.Close()

	for _, target := range []string{
		"/v2/liveness%00",
		"/v2/keys.verifyKey%00",
		"/v2/keys.verifyKey%00%00",
		"/v2/liv%00eness",
		"/v2/%00",
		"/%00",
		"/v2/liveness%0a",
		"/v2/liveness%1f",
		"/v2/liveness%7f",
		"/v2/keys.verifyKey%0d%0aX-Injected:%201",
	} {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			status, ctype, body := rawRequest(t, srv.URL, method, target)
			if status != http.StatusNotFound || !strings.HasPrefix(ctype, "text/plain") || body != "404 page not found\n" {
				t.Errorf("%s %s = %d %q %q, want the plain 404", method, target, status, ctype, body)
			}
		}
	}
	// Raw control bytes never reach keyline: net/http refuses the request line.
	if status, _, _ := rawRequest(t, srv.URL, http.MethodPost, "/v2/liveness\x01"); status != http.StatusBadRequest {
		t.Errorf("raw control byte: status %d, want 400 from net/http", status)
	}
	// A very long path is an unknown path, whatever it ends with.
	long := "/v2/" + strings.Repeat("a", 16<<10)
	for _, target := range []string{long, long + "%00", "/v2/liveness" + strings.Repeat("/x", 4<<10)} {
		if status, _, _ := rawRequest(t, srv.URL, http.MethodPost, target); status != http.StatusNotFound {
			t.Errorf("path of %d bytes: status %d, want 404", len(target), status)
		}
	}
	if strings.Contains(logs.String(), "panic") {
		t.Errorf("a control byte reached a panic:\n%s", logs.String())
	}
	// The guard does not get in the way of real routes.
	if status, _, body := rawRequest(t, srv.URL, http.MethodGet, "/v2/liveness"); status != 200 || !strings.Contains(body, "we're cooking") {
		t.Errorf("liveness = %d %q", status, body)
	}
}

func TestPanicAnswersTheErrorEnvelopeAndLogsOnce(t *testing.T) {
	var logs bytes.Buffer
	srv := httptest.NewServer(testRouter(&logs))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v2/apis.getApi", strings.NewReader(`{"apiId":"api_1234"}`))
	req.Header.Set("Authorization", "Bearer kl_root_x")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	var env struct {
		Meta  struct{ RequestID string }
		Error struct {
			Status      int
			Title, Type string
		}
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("status %d, not the envelope: %q", resp.StatusCode, b)
	}
	if resp.StatusCode != 500 || env.Error.Status != 500 || env.Error.Title != "Internal Server Error" ||
		env.Error.Type != "https://unkey.com/docs/errors/unkey/application/unexpected_error" ||
		!strings.HasPrefix(env.Meta.RequestID, "req_") {
		t.Fatalf("panic answered %d %s", resp.StatusCode, b)
	}
	if strings.Contains(string(b), "nil pointer") || strings.Contains(string(b), "goroutine") {
		t.Fatalf("the answer leaks the panic: %s", b)
	}

	var records []map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		records = append(records, rec)
	}
	if len(records) != 1 {
		t.Fatalf("%d log records, want exactly 1:\n%s", len(records), logs.String())
	}
	rec := records[0]
	stack, _ := rec["stack"].(string)
	if rec["msg"] != "panic while serving request" || rec["requestId"] != env.Meta.RequestID ||
		rec["path"] != "/v2/apis.getApi" || !strings.Contains(stack, "guard") {
		t.Fatalf("log record %v, want the panic with request ID %s and a stack", rec, env.Meta.RequestID)
	}
}
