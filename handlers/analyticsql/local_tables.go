package analyticsql

// Dialect is the SQL a confined query is printed in.
type Dialect int

const (
	// ClickHouse is the analytics database (Rewrite).
	ClickHouse Dialect = iota
	// SQLite and Postgres print for the local store (RewriteLocal).
	SQLite
	Postgres
)

// The local store's tables (infra/analytics, localquery.go, creates and
// fills them). They are not the records: one row counts the records that
// share every column but request_id and latency, down to the millisecond,
// in `records`. That keeps the embedded default's writes far below one row
// per verification under load, and it still answers every count, sum and
// time bucket exactly, because every column a caller may group or filter
// by is part of the row's key.
const (
	LocalVerificationsTable = "key_verifications_local_v1"
	LocalRatelimitsTable    = "ratelimits_local_v1"
)

// ltype is the type of a value in a local query: what the printer needs to
// choose functions and casts so that both databases answer what ClickHouse
// would.
type ltype int

const (
	lUnknown ltype = iota
	lInt
	lFloat
	lStr
	lBool
	// lTime is a DateTime or Date, held as 'YYYY-MM-DDThh:mm:ssZ' text:
	// it sorts and compares like the instant it names, and it is exactly
	// how the ClickHouse path renders such a value in an answer.
	lTime
	lTags // the tags array, stored as JSON text
	lNull
)

// localColumn is one public column as the local store provides it.
type localColumn struct {
	name string
	typ  ltype
	// agg is how a rollup source computes the column from the stored rows
	// (empty: the stored column itself, part of the grouping key).
	agg string
}

// localSource describes how one public table is served locally.
type localSource struct {
	physical string
	// raw is set for key_verifications_v1 and ratelimits_v1: each stored
	// row stands for `records` records, so the SELECT reading it must
	// aggregate, and its aggregates are weighted by that count.
	raw     bool
	columns []localColumn
	// missing are public columns the local store does not keep, each with
	// the reason given to a query that names it.
	missing map[string]string
}

const perRecord = "the local store keeps counts, not single records, so it has no per-record request_id or latency (configure ClickHouse for those)"

var localSources = map[string]*localSource{}

func init() {
	ver := []localColumn{{"time", lInt, ""}, {"workspace_id", lStr, ""}, {"key_space_id", lStr, ""},
		{"identity_id", lStr, ""}, {"external_id", lStr, ""}, {"key_id", lStr, ""}, {"region", lStr, ""},
		{"outcome", lStr, ""}, {"tags", lTags, ""}, {"spent_credits", lInt, ""}}
	localSources["key_verifications_v1"] = &localSource{physical: LocalVerificationsTable, raw: true, columns: ver,
		missing: map[string]string{"request_id": perRecord, "latency": perRecord}}
	rl := []localColumn{{"time", lInt, ""}, {"workspace_id", lStr, ""}, {"namespace_id", lStr, ""},
		{"identifier", lStr, ""}, {"region", lStr, ""}, {"passed", lInt, ""}}
	localSources["ratelimits_v1"] = &localSource{physical: LocalRatelimitsTable, raw: true, columns: rl,
		missing: map[string]string{"request_id": perRecord, "latency": perRecord}}
	for _, g := range []string{"minute", "hour", "day", "month"} {
		localSources["key_verifications_per_"+g+"_v1"] = &localSource{physical: LocalVerificationsTable, columns: []localColumn{
			{"time", lTime, ""}, {"workspace_id", lStr, ""}, {"key_space_id", lStr, ""}, {"identity_id", lStr, ""},
			{"external_id", lStr, ""}, {"key_id", lStr, ""}, {"outcome", lStr, ""},
			{"count", lInt, `SUM("records")`}, {"spent_credits", lInt, `SUM("spent_credits" * "records")`},
			{"latency_sum", lFloat, `SUM("latency_sum")`}}}
		localSources["ratelimits_per_"+g+"_v1"] = &localSource{physical: LocalRatelimitsTable, columns: []localColumn{
			{"time", lTime, ""}, {"workspace_id", lStr, ""}, {"namespace_id", lStr, ""}, {"identifier", lStr, ""},
			{"passed", lInt, `SUM("passed" * "records")`}, {"total", lInt, `SUM("records")`},
			{"latency_sum", lFloat, `SUM("latency_sum")`}}}
	}
}
