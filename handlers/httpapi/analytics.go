package httpapi

import (
	"context"

	"github.com/keyline/keyline/handlers"
)

// analyticsRequest is V2AnalyticsGetVerificationsRequestBody and
// V2AnalyticsGetRatelimitsRequestBody: the SQL. Unkey's schema allows
// other properties; they are ignored.
type analyticsRequest struct {
	Query string `json:"query"`
}

func (rt *Routes) getVerifications(ctx context.Context, p *handlers.Principal, in analyticsRequest) (any, error) {
	return rt.GetVerifications.Handle(ctx, p, handlers.GetVerificationsInput{Query: in.Query})
}

func (rt *Routes) getRatelimits(ctx context.Context, p *handlers.Principal, in analyticsRequest) (any, error) {
	return rt.GetRatelimits.Handle(ctx, p, handlers.GetRatelimitsInput{Query: in.Query})
}
