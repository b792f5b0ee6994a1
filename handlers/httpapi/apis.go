package httpapi

import (
	"context"

	"github.com/keyline/keyline/handlers"
)

type apiIDBody struct {
	APIID string `json:"apiId"`
}

func (rt *Routes) createAPI(ctx context.Context, p *handlers.Principal, in struct {
	Name string `json:"name"`
}) (any, error) {
	res, err := rt.CreateAPI.Handle(ctx, p, handlers.CreateAPIInput{Name: in.Name})
	return map[string]string{"apiId": res.APIID}, err
}

func (rt *Routes) getAPI(ctx context.Context, p *handlers.Principal, in apiIDBody) (any, error) {
	row, err := rt.GetAPI.Handle(ctx, p, handlers.GetAPIInput{APIID: in.APIID})
	return map[string]string{"id": row.ID, "name": row.Name}, err
}

func (rt *Routes) deleteAPI(ctx context.Context, p *handlers.Principal, in apiIDBody) (any, error) {
	_, err := rt.DeleteAPI.Handle(ctx, p, handlers.DeleteAPIInput{APIID: in.APIID})
	return empty{}, err
}

type listKeysBody struct {
	APIID      string `json:"apiId"`
	Limit      *int   `json:"limit"`
	Cursor     string `json:"cursor"`
	ExternalID string `json:"externalId"`
	Decrypt    bool   `json:"decrypt"`
}

func (rt *Routes) listKeys(ctx context.Context, p *handlers.Principal, in listKeysBody) (any, error) {
	limit := 100
	if in.Limit != nil {
		limit = *in.Limit
	}
	res, err := rt.ListKeys.Handle(ctx, p, handlers.ListKeysInput{
		APIID: in.APIID, Limit: limit, Cursor: in.Cursor, ExternalID: in.ExternalID, Decrypt: in.Decrypt})
	return page{Data: res.Keys, HasMore: res.HasMore, Cursor: res.Cursor}, err
}
