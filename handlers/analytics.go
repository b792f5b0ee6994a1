package handlers

import "github.com/keyline/keyline/events"

// AnalyticsEvent is the record keys.verifyKey and ratelimit.* report; see
// events.AnalyticsEvent and docs/EVENTS.md.
type AnalyticsEvent = events.AnalyticsEvent

// AnalyticsSink receives one analytics record per verification or rate-limit
// decision.
//
// Emit must never block, fail or slow the request that calls it: analytics
// is a by-product of answering, not part of the answer. Implementations
// buffer in bounded memory and drop (counting and logging it) when the
// buffer is full. The sink assigns ev.ID when it is empty.
type AnalyticsSink interface {
	Emit(ev AnalyticsEvent)
}

// NopAnalytics discards every record; for tests of use cases that do not
// look at analytics.
type NopAnalytics struct{}

// Emit implements AnalyticsSink.
func (NopAnalytics) Emit(AnalyticsEvent) {}
