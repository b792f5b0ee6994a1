// Package testenv gives tests real, isolated PostgreSQL and Redis resources.
//
// Why real services: keyline's correctness lives in SQL (event store,
// projections, outbox) and in Redis streams. Fakes of either would test our
// assumptions about them rather than the systems themselves, so tests talk to
// the servers named by KEYLINE_TEST_POSTGRES_URL and KEYLINE_TEST_REDIS_URL
// (defaults: DefaultPostgresURL, DefaultRedisURL). `make test` runs
// infra/testenv/ensure-services.sh first, which starts (or installs) them when
// they are not running.
//
// Why no skipping: a test whose service is missing fails with a message that
// says to run `make test`. A skipped test looks green while covering nothing,
// which is exactly the gap this package exists to close.
//
// Why one database per test: FreshPostgresDatabase creates a new database
// (CREATE DATABASE keyline_test_<created>_<hex>) and drops it WITH (FORCE) in
// t.Cleanup; FreshClickHouseDatabase does the same on ClickHouse. The
// creation time in the name lets every test process first sweep what a
// killed binary, or a drop that timed out, left behind more than three hours
// ago, without touching a database a running test still uses. Each test therefore migrates and owns its schema, tests can run
// in parallel (also across packages, which `go test ./...` does), and no test
// sees rows left behind by another. Redis has no cheap equivalent of a
// database per test, so RedisPrefix hands out a unique key prefix and deletes
// every key under it afterwards.
//
// Why no sleeps: asynchronous effects (projections catching up, messages
// crossing Redis) are awaited with Eventually, which polls with a deadline.
// A fixed sleep is either too short on a loaded CI machine (flaky) or too long
// everywhere else (slow).
//
// The package uses only the standard library plus pgx, which the module
// already depends on; it speaks the few Redis commands it needs itself so
// that it does not pin a Redis client.
package testenv
