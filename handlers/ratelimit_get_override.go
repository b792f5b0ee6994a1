package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/namespaces"
)

// GetRatelimitOverrideInput is the input of GetRatelimitOverride.
type GetRatelimitOverrideInput struct {
	Namespace  string
	Identifier string
}

// GetRatelimitOverrideResult is what GetRatelimitOverride answers.
type GetRatelimitOverrideResult = events.OverrideRule

// GetRatelimitOverride reads the override that applies to an identifier,
// with the same matching ratelimit.limit uses: asking for "user_42" may
// answer the "user_*" override.
type GetRatelimitOverride struct{ Reader RatelimitReader }

// NewGetRatelimitOverride builds the use case.
func NewGetRatelimitOverride(r RatelimitReader) *GetRatelimitOverride {
	return &GetRatelimitOverride{Reader: r}
}

// Handle returns the matching override. Order as in Unkey: namespace 404,
// override 404, and a missing permission answers that same override 404, so
// a caller without read rights cannot probe which overrides exist.
func (h *GetRatelimitOverride) Handle(ctx context.Context, p *Principal, in GetRatelimitOverrideInput) (GetRatelimitOverrideResult, error) {
	namespace := in.Namespace
	identifier := in.Identifier
	ns, err := namespaceForOverrides(ctx, h.Reader, p.WorkspaceID, namespace)
	if err != nil {
		return events.OverrideRule{}, err
	}
	rows, err := h.Reader.RatelimitOverrides(ctx, ns.ID)
	if err != nil {
		return events.OverrideRule{}, Internal("reading ratelimit overrides", err)
	}
	rule, ok := namespaces.Matcher(rows).Match(identifier)
	if !ok || p.RequireAny("ratelimit.*.read_override", "ratelimit."+ns.ID+".read_override",
		p.URN("ratelimits/namespaces/"+ns.ID+"/overrides/"+rule.ID, "read_override")) != nil {
		return events.OverrideRule{}, Fail(CodeRatelimitOverrideNotFound, overrideNotFoundDetail)
	}
	return rule, nil
}
