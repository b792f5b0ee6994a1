// Package sqlstore is keyline's durable event log and the database handles
// that read models live in, on PostgreSQL (clusters) or SQLite (the embedded
// default), both through bun.
//
// Appends are serialised and grouped: one appender per store commits every
// append waiting at that moment in one transaction (groupcommit.go), and
// that transaction first takes a transaction-scoped advisory lock on
// PostgreSQL (SQLite's single writer does the same job) before it draws
// positions. The lock is shared by the whole group, so it costs little, and
// it buys the property everything downstream leans on across processes:
// positions are gap-free and commit in order, so "position > checkpoint"
// never skips an event that commits late (the BIGSERIAL gap problem).
//
// In the same transaction as the events, the store hands them to an Applier
// (the inline projections: read-your-writes without waiting) and to an Outbox
// (watermill-sql on PostgreSQL, relayed to Redis streams when configured).
package sqlstore
