package httpapi

import (
	"net/http"

	"github.com/uptrace/bunrouter"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers"
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

func (r limitRequest) toUseCase() handlers.RatelimitRequest {
	cost := int64(1)
	if r.Cost != nil {
		cost = *r.Cost
	}
	return handlers.RatelimitRequest{Namespace: r.Namespace, Identifier: r.Identifier, Limit: r.Limit,
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

func (rt *Routes) ratelimitLimit(w http.ResponseWriter, req bunrouter.Request) error {
	var in limitRequest
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	res, err := rt.RatelimitLimit.Handle(req.Context(), p, in.toUseCase())
	if err != nil {
		return err
	}
	return writeData(w, req.Request, limitResponse{Success: res.Passed, Limit: res.Limit, Remaining: res.Remaining,
		Reset: res.Reset, OverrideID: res.OverrideID})
}

func (rt *Routes) ratelimitMultiLimit(w http.ResponseWriter, req bunrouter.Request) error {
	var in []limitRequest
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	reqs := make([]handlers.RatelimitRequest, len(in))
	for i, r := range in {
		reqs[i] = r.toUseCase()
	}
	results, passed, err := rt.RatelimitMultiLimit.Handle(req.Context(), p, reqs)
	if err != nil {
		return err
	}
	limits := make([]multiLimitCheck, len(results))
	for i, r := range results {
		limits[i] = multiLimitCheck{Namespace: r.Namespace, Identifier: r.Identifier, Limit: r.Limit,
			Remaining: r.Remaining, Reset: r.Reset, Passed: r.Passed, OverrideID: r.OverrideID}
	}
	return writeData(w, req.Request, struct {
		Passed bool              `json:"passed"`
		Limits []multiLimitCheck `json:"limits"`
	}{passed, limits})
}

func (rt *Routes) ratelimitSetOverride(w http.ResponseWriter, req bunrouter.Request) error {
	var in struct {
		Namespace  string `json:"namespace"`
		Identifier string `json:"identifier"`
		Limit      int64  `json:"limit"`
		Duration   int64  `json:"duration"`
	}
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	id, err := rt.SetRatelimitOverride.Handle(req.Context(), p, handlers.SetOverrideCommand{
		Namespace: in.Namespace, Identifier: in.Identifier, Limit: in.Limit, DurationMs: in.Duration})
	if err != nil {
		return err
	}
	return writeData(w, req.Request, map[string]string{"overrideId": id})
}

// overrideRef is the body of getOverride and deleteOverride.
type overrideRef struct {
	Namespace  string `json:"namespace"`
	Identifier string `json:"identifier"`
}

func (rt *Routes) ratelimitGetOverride(w http.ResponseWriter, req bunrouter.Request) error {
	var in overrideRef
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	rule, err := rt.GetRatelimitOverride.Handle(req.Context(), p, in.Namespace, in.Identifier)
	if err != nil {
		return err
	}
	return writeData(w, req.Request, toOverride(rule))
}

func (rt *Routes) ratelimitListOverrides(w http.ResponseWriter, req bunrouter.Request) error {
	var in struct {
		Namespace string `json:"namespace"`
		Cursor    string `json:"cursor"`
		Limit     int    `json:"limit"`
	}
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	page, err := rt.ListRatelimitOverrides.Handle(req.Context(), p, in.Namespace, in.Cursor, in.Limit)
	if err != nil {
		return err
	}
	out := make([]overrideResponse, len(page.Overrides))
	for i, o := range page.Overrides {
		out[i] = toOverride(o)
	}
	return writePage(w, req.Request, out, page.HasMore, page.Cursor)
}

func (rt *Routes) ratelimitDeleteOverride(w http.ResponseWriter, req bunrouter.Request) error {
	var in overrideRef
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	if err := rt.DeleteRatelimitOverride.Handle(req.Context(), p, in.Namespace, in.Identifier); err != nil {
		return err
	}
	return writeData(w, req.Request, empty{})
}
