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
// Inserts always go through PrepareBatch with an explicit column list: that
// is the one insert path that works on 18.16 and is also the cheapest on
// modern servers.
package clickhouse
