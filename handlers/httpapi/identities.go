package httpapi

import (
	"context"
	"encoding/json"

	"github.com/keyline/keyline/handlers"
)

func (rt *Routes) createIdentity(ctx context.Context, p *handlers.Principal, in struct {
	ExternalID string                    `json:"externalId"`
	Meta       json.RawMessage           `json:"meta"`
	Ratelimits []handlers.RatelimitInput `json:"ratelimits"`
}) (any, error) {
	id, err := rt.CreateIdentity.Handle(ctx, p, in.ExternalID, in.Meta, in.Ratelimits)
	return map[string]string{"identityId": id}, err
}

type identityBody struct {
	Identity string `json:"identity"`
}

func (rt *Routes) getIdentity(ctx context.Context, p *handlers.Principal, in identityBody) (any, error) {
	return rt.GetIdentity.Handle(ctx, p, in.Identity)
}

type listBody struct {
	Limit  int    `json:"limit"`
	Cursor string `json:"cursor"`
	Search string `json:"search"`
}

func (rt *Routes) listIdentities(ctx context.Context, p *handlers.Principal, in listBody) (any, error) {
	res, err := rt.ListIdentities.Handle(ctx, p, in.Cursor, in.Search, in.Limit)
	return page{Data: res.Identities, HasMore: res.HasMore, Cursor: res.Cursor}, err
}

func (rt *Routes) updateIdentity(ctx context.Context, p *handlers.Principal, in struct {
	Identity   string                     `json:"identity"`
	Meta       json.RawMessage            `json:"meta"`
	Ratelimits *[]handlers.RatelimitInput `json:"ratelimits"`
}) (any, error) {
	return rt.UpdateIdentity.Handle(ctx, p, in.Identity, in.Meta, in.Ratelimits)
}

// deleteIdentity answers with meta only: Unkey's response body for it has
// no data member at all.
func (rt *Routes) deleteIdentity(ctx context.Context, p *handlers.Principal, in identityBody) (any, error) {
	return metaOnly{}, rt.DeleteIdentity.Handle(ctx, p, in.Identity)
}
