package clickhouse

// MigrateTo applies the schema steps up to version last only: a database as
// an older release left it.
var MigrateTo = (*DB).migrateTo
