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
	res, err := rt.CreateIdentity.Handle(ctx, p, handlers.CreateIdentityInput{ExternalID: in.ExternalID, Meta: in.Meta, Ratelimits: in.Ratelimits})
	return map[string]string{"identityId": res.IdentityID}, err
}

type identityBody struct {
	Identity string `json:"identity"`
}

func (rt *Routes) getIdentity(ctx context.Context, p *handlers.Principal, in identityBody) (any, error) {
	return rt.GetIdentity.Handle(ctx, p, handlers.GetIdentityInput{Identity: in.Identity})
}

type listBody struct {
	Limit  int    `json:"limit"`
	Cursor string `json:"cursor"`
	Search string `json:"search"`
}

func (rt *Routes) listIdentities(ctx context.Context, p *handlers.Principal, in listBody) (any, error) {
	res, err := rt.ListIdentities.Handle(ctx, p, handlers.ListIdentitiesInput{Cursor: in.Cursor, Search: in.Search, Limit: in.Limit})
	return page{Data: res.Identities, HasMore: res.HasMore, Cursor: res.Cursor}, err
}

func (rt *Routes) updateIdentity(ctx context.Context, p *handlers.Principal, in struct {
	Identity   string                     `json:"identity"`
	Meta       json.RawMessage            `json:"meta"`
	Ratelimits *[]handlers.RatelimitInput `json:"ratelimits"`
}) (any, error) {
	return rt.UpdateIdentity.Handle(ctx, p, handlers.UpdateIdentityInput{Identity: in.Identity, Meta: in.Meta, Ratelimits: in.Ratelimits})
}

// deleteIdentity answers with meta only: Unkey's response body for it has
// no data member at all.
func (rt *Routes) deleteIdentity(ctx context.Context, p *handlers.Principal, in identityBody) (any, error) {
	_, err := rt.DeleteIdentity.Handle(ctx, p, handlers.DeleteIdentityInput{Identity: in.Identity})
	return metaOnly{}, err
}
