package handlers

import "sync/atomic"

// VerifyOutcomes lists keys.verifyKey's codes in the order Counters keeps
// them; the metrics label them with these strings.
var VerifyOutcomes = [...]string{CodeValid, CodeNotFound, CodeForbiddenKey, CodeDisabled, CodeExpired,
	CodeInsufficientPermissions, CodeRateLimited, CodeUsageExceeded}

// Counters count what the use cases decided, for the metrics endpoint to
// read when it is scraped. An increment is one atomic add on a fixed slot:
// no map, no allocation, so the hot paths pay nearly nothing whether
// metrics are served or not.
type Counters struct {
	verifications [len(VerifyOutcomes)]atomic.Uint64
	rlPassed      atomic.Uint64
	rlDenied      atomic.Uint64
}

// NewCounters builds the process's counters.
func NewCounters() *Counters { return &Counters{} }

// Verified counts one answered verification. A nil Counters counts nothing
// (use cases built by hand in tests).
func (c *Counters) Verified(code string) {
	if c == nil {
		return
	}
	i := 0
	switch code {
	case CodeValid:
		i = 0
	case CodeNotFound:
		i = 1
	case CodeForbiddenKey:
		i = 2
	case CodeDisabled:
		i = 3
	case CodeExpired:
		i = 4
	case CodeInsufficientPermissions:
		i = 5
	case CodeRateLimited:
		i = 6
	case CodeUsageExceeded:
		i = 7
	default:
		return
	}
	c.verifications[i].Add(1)
}

// RatelimitDecided counts one check of ratelimit.limit or multiLimit.
func (c *Counters) RatelimitDecided(passed bool) {
	if c == nil {
		return
	}
	if passed {
		c.rlPassed.Add(1)
	} else {
		c.rlDenied.Add(1)
	}
}

// Verifications returns how many verifications answered with
// VerifyOutcomes[i], for every i.
func (c *Counters) Verifications() [len(VerifyOutcomes)]uint64 {
	var out [len(VerifyOutcomes)]uint64
	for i := range c.verifications {
		out[i] = c.verifications[i].Load()
	}
	return out
}

// RatelimitDecisions returns how many rate-limit checks passed and were
// denied.
func (c *Counters) RatelimitDecisions() (passed, denied uint64) {
	return c.rlPassed.Load(), c.rlDenied.Load()
}
