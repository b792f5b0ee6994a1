package httpapi

import (
	"context"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/handlers/httpapi/flatjson"
)

// limitRequest is one V2RatelimitLimitRequestBody (also a multiLimit item).
type limitRequest struct {
	Namespace  string `json:"namespace"`
	Identifier string `json:"identifier"`
	Limit      int64  `json:"limit"`
	Duration   int64  `json:"duration"`
	// Cost is a pointer because an absent cost means 1 and 0 means a pure
	// check.
	Cost *int64 `json:"cost"`
}

// decodeFlat reads a ratelimit.limit body without reflection; see decode.
func (r *limitRequest) decodeFlat(body []byte) bool {
	s := flatjson.New(body)
	return s.Object(func(name []byte) bool {
		var str *string
		var num *int64
		switch string(name) {
		case "namespace":
			str = &r.Namespace
		case "identifier":
			str = &r.Identifier
		case "limit":
			num = &r.Limit
		case "duration":
			num = &r.Duration
		case "cost":
			r.Cost = new(int64)
			num = r.Cost
		default:
			return false
		}
		if str != nil {
			v, ok := s.PlainString()
			*str = string(v)
			return ok
		}
		n, ok := s.Integer()
		*num = n
		return ok
	})
}

func (r limitRequest) toUseCase() handlers.RatelimitLimitInput {
	cost := int64(1)
	if r.Cost != nil {
		cost = *r.Cost
	}
	return handlers.RatelimitLimitInput{Namespace: r.Namespace, Identifier: r.Identifier, Limit: r.Limit,
		DurationMs: r.Duration, Cost: cost}
}

type limitResponse struct {
	Success    bool   `json:"success"`
	Limit      int64  `json:"limit"`
	Remaining  int64  `json:"remaining"`
	Reset      int64  `json:"reset"`
	OverrideID string `json:"overrideId,omitempty"`
}

type multiLimitCheck struct {
	Namespace  string `json:"namespace"`
	Identifier string `json:"identifier"`
	Limit      int64  `json:"limit"`
	Remaining  int64  `json:"remaining"`
	Reset      int64  `json:"reset"`
	Passed     bool   `json:"passed"`
	OverrideID string `json:"overrideId,omitempty"`
}

type overrideResponse struct {
	OverrideID string `json:"overrideId"`
	Duration   int64  `json:"duration"`
	Identifier string `json:"identifier"`
	Limit      int64  `json:"limit"`
}

func toOverride(r events.OverrideRule) overrideResponse {
	return overrideResponse{OverrideID: r.ID, Duration: r.DurationMs, Identifier: r.Identifier, Limit: r.Limit}
}

func (rt *Routes) ratelimitLimit(ctx context.Context, p *handlers.Principal, in limitRequest) (any, error) {
	res, err := rt.RatelimitLimit.Handle(ctx, p, in.toUseCase())
	return &limitResponse{Success: res.Passed, Limit: res.Limit, Remaining: res.Remaining,
		Reset: res.Reset, OverrideID: res.OverrideID}, err
}

func (rt *Routes) ratelimitMultiLimit(ctx context.Context, p *handlers.Principal, in []limitRequest) (any, error) {
	reqs := make([]handlers.RatelimitLimitInput, len(in))
	for i, r := range in {
		reqs[i] = r.toUseCase()
	}
	res, err := rt.RatelimitMultiLimit.Handle(ctx, p, handlers.RatelimitMultiLimitInput{Limits: reqs})
	if err != nil {
		return nil, err
	}
	limits := make([]multiLimitCheck, len(res.Limits))
	for i, r := range res.Limits {
		limits[i] = multiLimitCheck{Namespace: r.Namespace, Identifier: r.Identifier, Limit: r.Limit,
			Remaining: r.Remaining, Reset: r.Reset, Passed: r.Passed, OverrideID: r.OverrideID}
	}
	return struct {
		Passed bool              `json:"passed"`
		Limits []multiLimitCheck `json:"limits"`
	}{res.Passed, limits}, nil
}

type setOverrideBody struct {
	Namespace  string `json:"namespace"`
	Identifier string `json:"identifier"`
	Limit      int64  `json:"limit"`
	Duration   int64  `json:"duration"`
}

func (rt *Routes) ratelimitSetOverride(ctx context.Context, p *handlers.Principal, in setOverrideBody) (any, error) {
	res, err := rt.SetRatelimitOverride.Handle(ctx, p, handlers.SetRatelimitOverrideInput{
		Namespace: in.Namespace, Identifier: in.Identifier, Limit: in.Limit, DurationMs: in.Duration})
	return map[string]string{"overrideId": res.OverrideID}, err
}

// overrideRef is the body of getOverride and deleteOverride.
type overrideRef struct {
	Namespace  string `json:"namespace"`
	Identifier string `json:"identifier"`
}

func (rt *Routes) ratelimitGetOverride(ctx context.Context, p *handlers.Principal, in overrideRef) (any, error) {
	rule, err := rt.GetRatelimitOverride.Handle(ctx, p, handlers.GetRatelimitOverrideInput{Namespace: in.Namespace, Identifier: in.Identifier})
	return toOverride(rule), err
}

type listOverridesBody struct {
	Namespace string `json:"namespace"`
	Cursor    string `json:"cursor"`
	Limit     int    `json:"limit"`
}

func (rt *Routes) ratelimitListOverrides(ctx context.Context, p *handlers.Principal, in listOverridesBody) (any, error) {
	res, err := rt.ListRatelimitOverrides.Handle(ctx, p, handlers.ListRatelimitOverridesInput{Namespace: in.Namespace, Cursor: in.Cursor, Limit: in.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]overrideResponse, len(res.Overrides))
	for i, o := range res.Overrides {
		out[i] = toOverride(o)
	}
	return page{Data: out, HasMore: res.HasMore, Cursor: res.Cursor}, nil
}

func (rt *Routes) ratelimitDeleteOverride(ctx context.Context, p *handlers.Principal, in overrideRef) (any, error) {
	_, err := rt.DeleteRatelimitOverride.Handle(ctx, p, handlers.DeleteRatelimitOverrideInput{Namespace: in.Namespace, Identifier: in.Identifier})
	return empty{}, err
}
