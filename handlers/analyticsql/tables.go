package analyticsql

import "sort"

// Grain is the resolution of a table's time column.
type Grain int

const (
	// GrainMillis: an Int64 of Unix milliseconds (the raw tables).
	GrainMillis Grain = iota
	GrainMinute
	GrainHour
	GrainDay
	GrainMonth
)

// Table is a public table: the name callers query, the physical table
// behind it (infra/clickhouse's schema) and the columns it exposes. Only the
// listed columns are visible: the generated source selects exactly them, so
// event_id and anything added to the physical table later stay private.
type Table struct {
	Name     string
	Physical string
	Columns  []string
	Grain    Grain
	// ScopeColumn holds the resource a per-resource permission names:
	// key_space_id (api.<id>.read_analytics) or namespace_id
	// (ratelimit.<id>.read_analytics).
	ScopeColumn string
}

// VerificationTables are the tables analytics.getVerifications serves. The
// public names are Unkey's; the rollups keep keyline's physical column
// names (count, spent_credits, latency_sum: sums, to be aggregated with
// sum()), because Unkey's latency columns are aggregate states keyline does
// not store.
var VerificationTables = tableSet(
	&Table{Name: "key_verifications_v1", Physical: "key_verifications_raw_v1", Grain: GrainMillis,
		ScopeColumn: "key_space_id", Columns: []string{"request_id", "time", "workspace_id", "key_space_id",
			"identity_id", "external_id", "key_id", "region", "outcome", "tags", "spent_credits", "latency"}},
	verificationRollup("minute", GrainMinute), verificationRollup("hour", GrainHour),
	verificationRollup("day", GrainDay), verificationRollup("month", GrainMonth),
)

// RatelimitTables are the tables analytics.getRatelimits serves.
var RatelimitTables = tableSet(
	&Table{Name: "ratelimits_v1", Physical: "ratelimits_raw_v1", Grain: GrainMillis, ScopeColumn: "namespace_id",
		Columns: []string{"request_id", "time", "workspace_id", "namespace_id", "identifier", "region", "passed", "latency"}},
	ratelimitRollup("minute", GrainMinute), ratelimitRollup("hour", GrainHour),
	ratelimitRollup("day", GrainDay), ratelimitRollup("month", GrainMonth),
)

func verificationRollup(suffix string, g Grain) *Table {
	name := "key_verifications_per_" + suffix + "_v1"
	return &Table{Name: name, Physical: name, Grain: g, ScopeColumn: "key_space_id",
		Columns: []string{"time", "workspace_id", "key_space_id", "identity_id", "external_id", "key_id", "outcome",
			"count", "spent_credits", "latency_sum"}}
}

func ratelimitRollup(suffix string, g Grain) *Table {
	name := "ratelimits_per_" + suffix + "_v1"
	return &Table{Name: name, Physical: name, Grain: g, ScopeColumn: "namespace_id",
		Columns: []string{"time", "workspace_id", "namespace_id", "identifier", "passed", "total", "latency_sum"}}
}

func tableSet(tables ...*Table) map[string]*Table {
	out := make(map[string]*Table, len(tables))
	for _, t := range tables {
		out[t.Name] = t
	}
	return out
}

func sortedTables(m map[string]*Table) []*Table {
	out := make([]*Table, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
