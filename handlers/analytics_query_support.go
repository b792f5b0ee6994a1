package handlers

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/analyticsql"
)

// AnalyticsQuerier runs a confined analytics query (implemented by
// analytics.Querier: ClickHouse, or the local store). Configured is false
// when neither can answer. Query
// returns at most maxRows rows; its errors may carry a failure kind (see
// analyticsFailure).
type AnalyticsQuerier interface {
	Configured() bool
	Query(ctx context.Context, sql string, maxRows int) ([]map[string]any, error)
}

// localAnalytics is implemented by a querier that answers from the local
// store instead of ClickHouse: LocalDialect is then "sqlite" or
// "postgres" ("" for ClickHouse), and CompleteSince the oldest instant the
// store holds completely (zero when it never dropped anything).
type localAnalytics interface {
	LocalDialect() string
	CompleteSince(ctx context.Context) (time.Time, error)
}

// analyticsFailure is how the querier classifies a failed query without
// this package knowing the driver: "connection", "timeout", "memory",
// "rows" or "invalid" (with a message safe to show).
type analyticsFailure interface {
	AnalyticsFailure() string
	AnalyticsMessage() string
}

// Analytics query limits. They are Unkey's defaults in spirit: a month of
// data, ten thousand rows, queries no longer than a page of SQL.
const (
	AnalyticsRetentionDays  = 30
	AnalyticsMaxRows        = 10_000
	AnalyticsMaxQueryLength = 10_000
)

// analyticsQuery is what getVerifications and getRatelimits share: rewrite
// the caller's SQL into a query confined to their scope, run it, and turn
// every failure into the analytics error vocabulary.
type analyticsQuery struct {
	querier AnalyticsQuerier
	tables  map[string]*analyticsql.Table
	limits  analyticsql.Limits
	now     func() time.Time
}

func newAnalyticsQuery(q AnalyticsQuerier, tables map[string]*analyticsql.Table) analyticsQuery {
	return analyticsQuery{querier: q, tables: tables, now: time.Now,
		limits: analyticsql.Limits{MaxLength: AnalyticsMaxQueryLength, MaxRows: AnalyticsMaxRows, RetentionDays: AnalyticsRetentionDays}}
}

func (a analyticsQuery) configured() error {
	if a.querier == nil || !a.querier.Configured() {
		return Fail(CodeAnalyticsNotConfigured, "Analytics is not configured on this server: set clickhouse.url.")
	}
	return nil
}

func (a analyticsQuery) run(ctx context.Context, sql string, scope analyticsql.Scope) ([]map[string]any, error) {
	confined, err := a.rewrite(ctx, sql, scope)
	if err != nil {
		var qe *analyticsql.Error
		if !errors.As(err, &qe) {
			return nil, Internal("rewriting an analytics query", err)
		}
		code := map[analyticsql.Kind]Code{
			analyticsql.KindSyntax:      CodeInvalidAnalyticsQuery,
			analyticsql.KindLength:      CodeInvalidAnalyticsQuery,
			analyticsql.KindQueryType:   CodeInvalidAnalyticsQueryType,
			analyticsql.KindTable:       CodeInvalidAnalyticsTable,
			analyticsql.KindFunction:    CodeInvalidAnalyticsFunction,
			analyticsql.KindRetention:   CodeQueryRangeExceedsRetention,
			analyticsql.KindUnsupported: CodeInvalidAnalyticsQuery,
		}[qe.Kind]
		return nil, &Error{Code: code, Detail: qe.Msg}
	}
	rows, err := a.querier.Query(ctx, confined, AnalyticsMaxRows)
	if err == nil {
		return rows, nil
	}
	var f analyticsFailure
	if !errors.As(err, &f) {
		if ctx.Err() != nil {
			return nil, &Error{Code: CodeClientClosedRequest, Detail: "The client closed the request.", Err: err}
		}
		return nil, Internal("running an analytics query", err)
	}
	switch f.AnalyticsFailure() {
	case "connection":
		return nil, &Error{Code: CodeAnalyticsConnectionFailed, Detail: "The analytics database could not be reached. Please try again later.", Err: err}
	case "timeout":
		return nil, &Error{Code: CodeQueryExecutionTimeout, Detail: "The query took longer than its time limit. Narrow the time range or aggregate more.", Err: err}
	case "memory":
		return nil, &Error{Code: CodeQueryMemoryLimitExceeded, Detail: "The query needed more memory than its limit. Narrow the time range or group by fewer columns.", Err: err}
	case "rows":
		return nil, &Error{Code: CodeQueryRowsLimitExceeded, Detail: "The query read or returned more rows than its limit. Narrow the time range or use a rollup table.", Err: err}
	case "invalid":
		return nil, &Error{Code: CodeInvalidAnalyticsQuery, Detail: "The query is not valid: " + f.AnalyticsMessage(), Err: err}
	}
	return nil, Internal("running an analytics query", err)
}

// rewrite prints the confined query for ClickHouse, or, when the querier
// answers from the local store, for its database.
func (a analyticsQuery) rewrite(ctx context.Context, sql string, scope analyticsql.Scope) (string, error) {
	local, ok := a.querier.(localAnalytics)
	if !ok || local.LocalDialect() == "" {
		return analyticsql.Rewrite(sql, a.tables, scope, a.limits, a.now())
	}
	complete, err := local.CompleteSince(ctx)
	if err != nil {
		return "", err
	}
	dialect := analyticsql.SQLite
	if local.LocalDialect() == "postgres" {
		dialect = analyticsql.Postgres
	}
	return analyticsql.RewriteLocal(sql, a.tables, scope, a.limits, a.now(), dialect, complete)
}

// tupleResources returns the IDs <id> of the legacy permissions
// "<kind>.<id>.<action>" the principal holds, wildcard excluded, sorted.
func (p *Principal) tupleResources(kind, action string) []string {
	var out []string
	for perm := range p.permissions {
		rest, ok := strings.CutPrefix(perm, kind+".")
		if !ok {
			continue
		}
		id, ok := strings.CutSuffix(rest, "."+action)
		if ok && id != "" && id != "*" && !strings.Contains(id, ".") {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// isNotFound reports a lookup that found nothing.
func isNotFound(err error) bool { return errors.Is(err, events.ErrNotFound) }
