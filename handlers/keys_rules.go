package handlers

import (
	"github.com/keyline/keyline/events"
)

// CreditsInput is the credits object of createKey/updateKey.
type CreditsInput struct {
	Remaining *int64
	Refill    *events.Refill
}

// RatelimitInput is a rate-limit config of createKey/updateKey.
type RatelimitInput struct {
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Duration  int64  `json:"duration"`
	AutoApply bool   `json:"autoApply"`
}

// validateCredits applies Unkey's refill rules.
func validateCredits(c *CreditsInput, update bool) error {
	if c == nil || c.Refill == nil {
		return nil
	}
	if c.Remaining == nil {
		return Fail(CodeInvalidInput, "`credits.remaining` must be set when `credits.refill` is provided.")
	}
	if c.Refill.Interval == "monthly" && c.Refill.Day == 0 {
		return Fail(CodeInvalidInput, "`refillDay` must be provided when the refill interval is `monthly`.")
	}
	if update && c.Refill.Interval == "daily" && c.Refill.Day != 0 {
		return Fail(CodeInvalidInput, "`refillDay` must not be provided when the refill interval is `daily`.")
	}
	return nil
}

func newRatelimits(in []RatelimitInput, existing []events.Ratelimit) []events.Ratelimit {
	out := make([]events.Ratelimit, 0, len(in))
	for _, r := range in {
		id := ""
		for _, e := range existing {
			if e.Name == r.Name {
				id = e.ID
			}
		}
		if id == "" {
			id = NewID("rl")
		}
		out = append(out, events.Ratelimit{ID: id, Name: r.Name, Limit: r.Limit, Duration: r.Duration, AutoApply: r.AutoApply})
	}
	return out
}
