// Package sqlstore is keyline's durable event log and the database handles
// that read models live in, on PostgreSQL (clusters) or SQLite (the embedded
// default), both through bun.
//
// Appends are serialised: on PostgreSQL every append takes one
// transaction-scoped advisory lock before it draws a position, on SQLite the
// single writer does the same job. That costs little, because management
// writes are rare next to verifications, and it buys the property everything
// downstream leans on: positions commit in order, so "position > checkpoint"
// never skips an event that commits late (the BIGSERIAL gap problem).
//
// In the same transaction as the events, the store hands them to an Applier
// (the inline projections: read-your-writes without waiting) and to an Outbox
// (watermill-sql on PostgreSQL, relayed to Redis streams when configured).
package sqlstore
