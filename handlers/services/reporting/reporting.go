// Package reporting turns the decisions of keys.verifyKey and ratelimit.*
// into analytics records and outcome counts.
//
// The Reporter is one long-lived service per process that every such use
// case shares, not a use case: it stamps what every record shares (time,
// request, region), hands the record to the Sink, which never blocks, and
// counts the outcome for the metrics.
package reporting

import (
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
)

// Sink receives one analytics record per verification or rate-limit
// decision.
//
// Emit must never block, fail or slow the request that calls it: analytics
// is a by-product of answering, not part of the answer. Implementations
// buffer in bounded memory and drop (counting and logging it) when the
// buffer is full. The sink assigns ev.ID when it is empty.
type Sink interface {
	Emit(ev events.AnalyticsEvent)
}

// Nop discards every record; for tests of use cases that do not look at
// analytics.
type Nop struct{}

// Emit implements Sink.
func (Nop) Emit(events.AnalyticsEvent) {}

// Counts counts outcomes for the metrics (handlers.Counters).
type Counts interface {
	Verified(code string)
	RatelimitDecided(passed bool)
}

// Reporter reports decisions. A nil Reporter reports nothing, so use cases
// built by hand in tests need none.
type Reporter struct {
	Sink   Sink
	Region string
	// Counts counts every outcome, for the metrics; nil counts nothing.
	Counts Counts
}

// New builds the reporter for this node.
func New(sink Sink, cfg *configs.Config, counts Counts) *Reporter {
	return &Reporter{Sink: sink, Region: cfg.Region, Counts: counts}
}

// Answered counts one verification answer, including the NOT_FOUND ones
// that never reach Verified.
func (r *Reporter) Answered(code string) {
	if r != nil && r.Counts != nil {
		r.Counts.Verified(code)
	}
}

// Verified reports one verification that reached the checks, for the
// request requestID.
func (r *Reporter) Verified(requestID string, started time.Time, workspaceID string, v events.KeyVerified) {
	if r == nil || r.Sink == nil {
		return
	}
	v.LatencyMs = float64(time.Since(started).Microseconds()) / 1000
	r.Sink.Emit(events.NewKeyVerified(started.UnixMilli(), requestID, workspaceID, r.Region, v))
}

// RatelimitDecided reports one rate-limit decision, for the request
// requestID.
func (r *Reporter) RatelimitDecided(requestID string, started time.Time, workspaceID string, d events.RatelimitDecided) {
	if r == nil {
		return
	}
	if r.Counts != nil {
		r.Counts.RatelimitDecided(d.Passed)
	}
	if r.Sink == nil {
		return
	}
	d.LatencyMs = float64(time.Since(started).Microseconds()) / 1000
	r.Sink.Emit(events.NewRatelimitDecided(started.UnixMilli(), requestID, workspaceID, r.Region, d))
}
