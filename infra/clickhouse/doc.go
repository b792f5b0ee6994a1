// Package clickhouse is keyline's analytics store: the connection (native
// clickhouse:// or HTTP http(s):// URLs), the versioned schema and the batch
// writers the projectors use.
//
// The schema sticks to what ClickHouse 18.16 (Debian's build, which the tests
// run against) and modern servers both accept: MergeTree engines, Int64
// millisecond timestamps instead of DateTime64, no LowCardinality. What only a
// modern server offers (table TTL, async inserts) is switched on after
// `SELECT version()` says the server has it.
//
// Records are always inserted through PrepareBatch with an explicit column
// list: that is the one insert path that works on 18.16 and is also the
// cheapest on modern servers. The only other insert is the rollup repair's
// INSERT ... SELECT, which sends no rows (see batches.go).
//
// The raw tables are the truth; the rollups are materialized views over
// them, and every insert is a batch whose marker row in each rollup tells a
// retry whether a server crash cut the views short (batches.go).
package clickhouse
