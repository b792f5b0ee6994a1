// Package ratelimit holds the counters behind handlers.Ratelimiter (via the Limiter interface): where
// the two window counts of every (key, duration) live and how a batch of
// checks is decided atomically. The arithmetic itself is events.DecideWindows,
// shared by every backend, so a decision does not depend on where it ran.
//
//   - Memory (memory.go) keeps counters in this process: sharded maps with a
//     lock per shard, and a janitor that drops counters whose windows have
//     both ended, so memory follows the identifiers active in the last two
//     windows rather than every identifier ever seen. It is exact for one
//     node and is what keyline uses without redis.url.
//   - Redis (redis.go) keeps counters in Redis and decides each batch in one
//     Lua script (read both windows of every check, decide all or nothing,
//     increment only on success, expire after two windows): N nodes sharing
//     Redis admit exactly the limit, at one round trip per decision.
//     When Redis fails it decides on a local Memory instead (fail open, as
//     Unkey does), logs that at most every few seconds, counts it, and
//     tries Redis again after a short pause, so it recovers without a
//     restart. Only failures of Redis itself start that pause; an error
//     reply about one batch is decided locally for that batch alone.
//
// Both backends first map a check's client values into the bounds of
// events.NewWindowCheck, so no limit, cost or duration can overflow a
// counter or lose precision in Lua's doubles.
//
// New (provider.go) picks the backend from the configuration.
package ratelimit
