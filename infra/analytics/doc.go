// Package analytics moves verification and rate-limit records, and the
// management events of the log, into ClickHouse and to `keyline consume`.
//
// The path of a record, with Redis:
//
//	handler ─Emit→ Sink (bounded memory, drops counted)
//	       ─batches→ Redis stream keyline.analytics (MAXLEN = retention)
//	       ─consumer group "keyline-clickhouse"→ Projector ─batch insert→ ClickHouse
//
// and without Redis (the embedded default, or PostgreSQL alone):
//
//	handler ─Emit→ Sink ─one transaction per batch→ LocalStore (analytics_log, batch rows, retention records,
//	                                                  and without ClickHouse LocalQuery's counts)
//	       ─RecordReader.ReadAfter(position)→ LocalProjector (lease + checkpoint) ─→ ClickHouse
//	                                        → LocalConsumer (`keyline consume`)
//
// RecordReader is the stable interface for anything that reads the local
// records: ReadAfter(ctx, after, limit) returns records with a position
// above after, in order; Head returns the oldest and newest retained
// positions. Positions are dense (1, 2, 3, ... in commit order), so Gap
// tells a reader how many records retention trimmed before it read them.
// The table holds a publish's records in batch rows (batchrow.go), but each
// Record carries its JSON as the stream does (Payload; Event returns the
// decoded record) and Retry, set
// when a retried publish may have stored the same record twice: a reader
// that must count each record once deduplicates those by record ID. A
// reader keeps its own position (a checkpoint row in the same database, or
// next to what it writes), as LocalConsumer and LocalProjector do.
//
// The projector's insert batches (analytics.insertBatchSize) are its own,
// much larger than the sink's stream batches (analytics.batchSize), and it
// reads and decodes the next batch while the previous one is inserted.
//
// Emit never blocks: the request path pays one channel send. Exactly-once in
// effect comes from three rules: the projector acknowledges stream entries
// only after ClickHouse accepted the batch; anything that may have been
// inserted before (a retried batch, entries redelivered after a crash) goes
// through the writer's dedup check by event ID; and the raw tables are
// ReplacingMergeTree on event_id as a second line of defence. Entries of a
// retried publish carry RetryField, which makes their batch suspect too.
//
// Nothing is lost silently: entries the stream's MAXLEN trims before the
// group read them, or while they were pending, are counted (Lost) and
// logged at error level.
//
// The audit projection follows the event log itself by position and keeps
// its checkpoint in ClickHouse (the highest position in audit_log_v1), so
// it needs no coordination between nodes.
package analytics
