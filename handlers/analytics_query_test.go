package handlers

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type fakeFailure struct{ kind, msg string }

func (f *fakeFailure) Error() string            { return "fake " + f.kind }
func (f *fakeFailure) AnalyticsFailure() string { return f.kind }
func (f *fakeFailure) AnalyticsMessage() string { return f.msg }

type fakeQuerier struct {
	configured bool
	err        error
	sql        string
}

func (q *fakeQuerier) Configured() bool { return q.configured }
func (q *fakeQuerier) Query(_ context.Context, sql string, _ int) ([]map[string]any, error) {
	q.sql = sql
	return []map[string]any{}, q.err
}

// Every querier failure becomes the analytics error the reference names.
func TestAnalyticsFailureCodes(t *testing.T) {
	p := NewPrincipal("ws_1", "key_1", []string{"ratelimit.*.read_analytics"})
	const sql = "SELECT count() FROM ratelimits_v1"
	for _, tt := range []struct {
		err  error
		code Code
	}{
		{&fakeFailure{kind: "connection"}, CodeAnalyticsConnectionFailed},
		{&fakeFailure{kind: "timeout"}, CodeQueryExecutionTimeout},
		{&fakeFailure{kind: "memory"}, CodeQueryMemoryLimitExceeded},
		{&fakeFailure{kind: "rows"}, CodeQueryRowsLimitExceeded},
		{&fakeFailure{kind: "invalid", msg: "Unknown identifier: x"}, CodeInvalidAnalyticsQuery},
		{errors.New("something else"), CodeUnexpected},
	} {
		q := &fakeQuerier{configured: true, err: tt.err}
		_, err := NewGetRatelimits(q).Handle(context.Background(), p, GetRatelimitsInput{Query: sql})
		if e := AsError(err); e.Code != tt.code {
			t.Errorf("%v: code %s, want %s", tt.err, e.Code, tt.code)
		}
		if !strings.Contains(q.sql, "`workspace_id` = 'ws_1'") {
			t.Errorf("ran %s", q.sql)
		}
	}
	_, err := NewGetRatelimits(&fakeQuerier{}).Handle(context.Background(), p, GetRatelimitsInput{Query: sql})
	if e := AsError(err); e.Code != CodeAnalyticsNotConfigured {
		t.Fatalf("unconfigured: %v", err)
	}
	// Authorization comes first: no grant is a 403 even without ClickHouse.
	_, err = NewGetRatelimits(&fakeQuerier{}).Handle(context.Background(), NewPrincipal("ws_1", "k", nil), GetRatelimitsInput{Query: sql})
	if e := AsError(err); e.Code != CodeInsufficientPerms || !strings.Contains(e.Detail, "ratelimit.*.read_analytics") {
		t.Fatalf("no grant: %v", err)
	}
}

func TestTupleResources(t *testing.T) {
	p := NewPrincipal("ws", "k", []string{"api.api_2.read_analytics", "api.*.read_analytics", "api.api_1.read_analytics",
		"api.api_3.read_key", "ratelimit.ns_1.read_analytics", "api..read_analytics"})
	if got := strings.Join(p.tupleResources("api", "read_analytics"), ","); got != "api_1,api_2" {
		t.Fatalf("got %s", got)
	}
}
