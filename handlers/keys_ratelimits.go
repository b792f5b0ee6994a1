package handlers

import (
	"context"
	"time"

	"github.com/keyline/keyline/events"
)

// VerifyRatelimitInput is one entry of keys.verifyKey's ratelimits[].
type VerifyRatelimitInput struct {
	Name     string `json:"name"`
	Cost     *int64 `json:"cost"`
	Limit    *int64 `json:"limit"`
	Duration *int64 `json:"duration"`
}

// VerifyRatelimitData is one checked limit in the verification answer.
// Reset is a unix-ms timestamp, as Unkey returns it despite its schema.
type VerifyRatelimitData struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Duration  int64  `json:"duration"`
	AutoApply bool   `json:"autoApply"`
	Exceeded  bool   `json:"exceeded"`
	Remaining int64  `json:"remaining"`
	Reset     int64  `json:"reset"`
}

// plannedLimit is one limit a verification checks: a config, the counter's
// owner (the key, or the identity for identity-level configs, whose counter
// all the identity's keys share) and the cost.
type plannedLimit struct {
	config events.Ratelimit
	owner  string
	cost   int64
}

// planRatelimits merges the key's and the identity's configs by name (the
// key's wins), takes every auto-applied one at cost 1, then each requested
// one: with both limit and duration it is an ad-hoc limit on the key (no
// ID), otherwise it must name a merged config, whose limit and duration
// apply (a lone limit or duration is ignored, as in Unkey). An unknown name
// is Unkey's 412.
func planRatelimits(keyID string, keyRLs []events.Ratelimit, identityID, externalID string, identityRLs []events.Ratelimit,
	requested []VerifyRatelimitInput) ([]plannedLimit, error) {
	merged := map[string]plannedLimit{}
	var order []string
	add := func(rl events.Ratelimit, owner string) {
		if _, ok := merged[rl.Name]; !ok {
			order = append(order, rl.Name)
		}
		merged[rl.Name] = plannedLimit{config: rl, owner: owner, cost: 1}
	}
	for _, rl := range identityRLs {
		add(rl, identityID)
	}
	for _, rl := range keyRLs {
		add(rl, keyID)
	}
	chosen := map[string]plannedLimit{}
	var chosenOrder []string
	choose := func(p plannedLimit) {
		if _, ok := chosen[p.config.Name]; !ok {
			chosenOrder = append(chosenOrder, p.config.Name)
		}
		chosen[p.config.Name] = p
	}
	for _, name := range order {
		if merged[name].config.AutoApply {
			choose(merged[name])
		}
	}
	for _, r := range requested {
		cost := int64(1)
		if r.Cost != nil {
			cost = *r.Cost
		}
		if r.Limit != nil && r.Duration != nil {
			choose(plannedLimit{config: events.Ratelimit{Name: r.Name, Limit: *r.Limit, Duration: *r.Duration}, owner: keyID, cost: cost})
			continue
		}
		p, ok := merged[r.Name]
		if !ok {
			detail := "ratelimit '" + r.Name + "' was requested but does not exist for key '" + keyID + "'"
			if identityID == "" {
				detail += " and there is no identity connected."
			} else {
				detail += " nor identity: '" + identityID + "' external ID: '" + externalID + "'"
			}
			return nil, Fail(CodePreconditionFailed, detail)
		}
		p.cost = cost
		choose(p)
	}
	out := make([]plannedLimit, 0, len(chosenOrder))
	for _, name := range chosenOrder {
		out = append(out, chosen[name])
	}
	return out, nil
}

// checkRatelimits runs the planned limits through the limiter, all or
// nothing. It reports whether every limit passed; limiter errors fail open,
// as in Unkey, so an outage of the limiter never locks every key out.
func checkRatelimits(ctx context.Context, limiter Ratelimiter, now time.Time, plan []plannedLimit) ([]VerifyRatelimitData, bool) {
	if limiter == nil || len(plan) == 0 {
		return nil, true
	}
	checks := make([]RatelimitCheck, len(plan))
	for i, p := range plan {
		// The "verify:" prefix keeps these counters apart from ratelimit.limit's,
		// which are keyed by namespace ID.
		checks[i] = RatelimitCheck{Key: "verify:" + p.config.Name + ":" + p.owner, Limit: p.config.Limit,
			Duration: events.DurationFromMs(p.config.Duration), Cost: p.cost}
	}
	decisions, err := limiter.Decide(ctx, now, checks)
	if err != nil || len(decisions) != len(plan) {
		return nil, true
	}
	out := make([]VerifyRatelimitData, len(plan))
	passed := true
	for i, p := range plan {
		d := decisions[i]
		passed = passed && d.Passed
		out[i] = VerifyRatelimitData{ID: p.config.ID, Name: p.config.Name, Limit: p.config.Limit, Duration: p.config.Duration,
			AutoApply: p.config.AutoApply, Exceeded: !d.Passed, Remaining: d.Remaining, Reset: d.Reset}
	}
	return out, passed
}
