// Package analytics moves verification and rate-limit records, and the
// management events of the log, into ClickHouse and to `keyline consume`.
//
// The path of a record:
//
//	handler ─Emit→ Sink (bounded memory, drops counted)
//	       ─batches→ Redis stream keyline.analytics (MAXLEN = retention)
//	       ─consumer group "keyline-clickhouse"→ Projector ─batch insert→ ClickHouse
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
