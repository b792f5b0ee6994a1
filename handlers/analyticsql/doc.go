// Package analyticsql is the analytics query language of
// analytics.getVerifications and analytics.getRatelimits: a tokenizer, a
// recursive-descent parser of the allowed SELECT subset (tables, functions
// and clauses outside it are refused while parsing), the retention check,
// and two printers of the parse tree.
//
// Rewrite prints for ClickHouse. RewriteLocal prints the same tree for the
// local store (SQLite or PostgreSQL) when no ClickHouse is configured.
// Both replace every public table by a subquery keyline writes, holding
// only the caller's workspace, permitted resources and retention, so no
// query shape can read another workspace's rows; nothing of the caller's
// text reaches a database except through the tree.
//
// The local printer answers a documented subset (README, "Querying
// analytics"): the per-key, per-outcome, per-identity, per-tag and
// per-time-bucket counts. Its tables count records per millisecond and
// key columns (LocalVerificationsTable), so over the raw public tables
// every aggregate is weighted by that count, and a SELECT there must
// aggregate. Anything whose answer it cannot make identical to
// ClickHouse's (per-record columns, quantiles, a column neither grouped nor
// aggregated, which SQLite would answer from an arbitrary row, a function
// outside its list) is a KindUnsupported error naming it, never a different
// number. To get there it tracks the type of every expression: times are
// 'YYYY-MM-DDThh:mm:ssZ' text, which compares like the instant and renders
// the way ClickHouse's DateTime and Date values are rendered in answers;
// constant time expressions (now() - INTERVAL 7 DAY) are computed by keyline
// with the clock the retention check uses; division is in floating point
// with a zero divisor giving null, as ClickHouse's NaN and Inf render;
// comparisons become 0 or 1 in PostgreSQL; text compares by bytes
// (COLLATE "C"); an unnamed SELECT item gets ClickHouse's column name
// (count(), equals(outcome, 'VALID')), or must be named with AS.
package analyticsql
