// Package projections turns the event log into the read models the API
// answers from. Each projection lives in its own file with a name, a version,
// the tables it owns and its per-event handlers, plus the queries over those
// tables.
//
// The Runner applies projections in two situations with the same code, which
// is what makes `keyline replay` reproduce the live read models exactly:
//   - inline, inside the append's transaction, so a write that answered is
//     already visible to the next read on any node sharing the database;
//   - in bulk, from position zero (replay) or from a projection's checkpoint
//     (start-up catch-up after a new projection or a version bump).
//
// A checkpoint row per projection records the last position applied, and it
// is written in the same transaction as the read-model rows, so a redelivered
// event is skipped rather than applied twice. Handlers upsert by ID on top of
// that, so they stay harmless even if called again.
package projections
