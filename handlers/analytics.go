package handlers

import (
	"context"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
)

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

// Reporter turns decisions into analytics records: it stamps what every
// record shares (time, request, region) and hands them to the sink, which
// never blocks. A nil Reporter reports nothing, so use cases built by hand in
// tests need none.
type Reporter struct {
	Sink   AnalyticsSink
	Region string
	// Counts counts every outcome, for the metrics; nil counts nothing.
	Counts *Counters
}

// NewReporter builds the reporter for this node.
func NewReporter(sink AnalyticsSink, cfg *configs.Config, counts *Counters) *Reporter {
	return &Reporter{Sink: sink, Region: cfg.Region, Counts: counts}
}

// answered counts one verification answer, including the NOT_FOUND ones
// that never reach Verified.
func (r *Reporter) answered(code string) {
	if r != nil {
		r.Counts.verified(code)
	}
}

// Verified reports one verification that reached the checks.
func (r *Reporter) Verified(ctx context.Context, started time.Time, workspaceID string, v events.KeyVerified) {
	if r == nil || r.Sink == nil {
		return
	}
	v.LatencyMs = float64(time.Since(started).Microseconds()) / 1000
	r.Sink.Emit(events.NewKeyVerified(started.UnixMilli(), RequestID(ctx), workspaceID, r.Region, v))
}

// RatelimitDecided reports one rate-limit decision.
func (r *Reporter) RatelimitDecided(ctx context.Context, started time.Time, workspaceID string, d events.RatelimitDecided) {
	if r == nil {
		return
	}
	r.Counts.ratelimitDecided(d.Passed)
	if r.Sink == nil {
		return
	}
	d.LatencyMs = float64(time.Since(started).Microseconds()) / 1000
	r.Sink.Emit(events.NewRatelimitDecided(started.UnixMilli(), RequestID(ctx), workspaceID, r.Region, d))
}
