package handlers

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/keyline/keyline/events"
)

func TestPlanRatelimits(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	keyRLs := []events.Ratelimit{
		{ID: "rl_k1", Name: "requests", Limit: 10, Duration: 1000, AutoApply: true},
		{ID: "rl_k2", Name: "tokens", Limit: 500, Duration: 60000},
	}
	idRLs := []events.Ratelimit{
		{ID: "rl_i1", Name: "requests", Limit: 99, Duration: 1000, AutoApply: true}, // shadowed by the key's
		{ID: "rl_i2", Name: "daily", Limit: 1000, Duration: 86400000, AutoApply: true},
	}
	names := func(plan []plannedLimit) []string {
		var out []string
		for _, p := range plan {
			out = append(out, p.config.ID+"@"+p.owner)
		}
		return out
	}
	plan, err := planRatelimits("key_1", keyRLs, "id_1", "ext", idRLs, nil)
	if err != nil || !reflect.DeepEqual(names(plan), []string{"rl_k1@key_1", "rl_i2@id_1"}) {
		t.Fatalf("auto-applied = %v %v", names(plan), err)
	}
	plan, _ = planRatelimits("key_1", keyRLs, "id_1", "ext", idRLs, []VerifyRatelimitInput{{Name: "tokens", Cost: i64(50), Limit: i64(3)}})
	if last := plan[len(plan)-1]; last.config.ID != "rl_k2" || last.cost != 50 || last.config.Limit != 500 {
		t.Fatalf("by name with a lone limit override: %+v", last)
	}
	plan, _ = planRatelimits("key_1", keyRLs, "", "", nil, []VerifyRatelimitInput{{Name: "requests", Limit: i64(2), Duration: i64(5000)}})
	if len(plan) != 1 || plan[0].config.ID != "" || plan[0].config.Limit != 2 || plan[0].owner != "key_1" {
		t.Fatalf("ad-hoc limit replaces the auto-applied one: %+v", plan)
	}
	_, err = planRatelimits("key_1", keyRLs, "", "", nil, []VerifyRatelimitInput{{Name: "nope"}})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodePreconditionFailed ||
		e.Detail != "ratelimit 'nope' was requested but does not exist for key 'key_1' and there is no identity connected." {
		t.Fatalf("unknown name without identity: %v", err)
	}
	_, err = planRatelimits("key_1", keyRLs, "id_1", "ext", idRLs, []VerifyRatelimitInput{{Name: "nope"}})
	if !errors.As(err, &e) || e.Detail != "ratelimit 'nope' was requested but does not exist for key 'key_1' nor identity: 'id_1' external ID: 'ext'" {
		t.Fatalf("unknown name with identity: %v", err)
	}
}

// scriptedLimiter answers from a script; test code only.
type scriptedLimiter struct {
	passed []bool
	err    error
	got    []RatelimitCheck
}

func (s *scriptedLimiter) Decide(_ context.Context, _ time.Time, checks []RatelimitCheck) ([]RatelimitDecision, error) {
	s.got = checks
	if s.err != nil {
		return nil, s.err
	}
	out := make([]RatelimitDecision, len(checks))
	for i, c := range checks {
		out[i] = RatelimitDecision{Passed: s.passed[i], Limit: c.Limit, Remaining: 1, Reset: 42}
	}
	return out, nil
}

func TestCheckRatelimits(t *testing.T) {
	plan := []plannedLimit{
		{config: events.Ratelimit{ID: "rl_1", Name: "requests", Limit: 10, Duration: 1000, AutoApply: true}, owner: "key_1", cost: 1},
		{config: events.Ratelimit{ID: "rl_2", Name: "daily", Limit: 5, Duration: 86400000}, owner: "id_1", cost: 3},
	}
	l := &scriptedLimiter{passed: []bool{true, false}}
	data, passed := checkRatelimits(context.Background(), l, time.Now(), plan)
	if passed || len(data) != 2 || data[0].Exceeded || !data[1].Exceeded || data[1].Reset != 42 || data[1].ID != "rl_2" {
		t.Fatalf("one failing limit: passed %v, %+v", passed, data)
	}
	if l.got[1].Key != "verify:daily:id_1" || l.got[1].Cost != 3 || l.got[1].Duration != 24*time.Hour {
		t.Fatalf("checks = %+v", l.got)
	}
	if _, passed := checkRatelimits(context.Background(), &scriptedLimiter{err: errors.New("down")}, time.Now(), plan); !passed {
		t.Fatal("limiter errors must fail open")
	}
	if data, passed := checkRatelimits(context.Background(), nil, time.Now(), plan); !passed || data != nil {
		t.Fatal("without a limiter nothing is counted")
	}
}
