package httpapi

import (
	"context"

	"github.com/keyline/keyline/handlers"
)

// keyline's own operations under /v2/keyline.*: what the console needs and
// Unkey's API lacks (Unkey's dashboard reads its database directly). The
// "keyline." prefix keeps them apart from any Unkey operation name; they
// are listed in keylineOnlyRoutes, not in the OpenAPI document, so their
// bodies are not schema-validated and the use cases check every field.

type consoleListBody struct {
	Cursor string `json:"cursor"`
	Limit  int    `json:"limit"`
}

func (rt *Routes) rootKeyWhoami(ctx context.Context, p *handlers.Principal, _ struct{}) (any, error) {
	return rt.RootKeyWhoami.Handle(ctx, p, struct{}{})
}

func (rt *Routes) listAPIs(ctx context.Context, p *handlers.Principal, in consoleListBody) (any, error) {
	res, err := rt.ListAPIs.Handle(ctx, p, handlers.ListInput{Cursor: in.Cursor, Limit: in.Limit})
	return page{Data: res.APIs, HasMore: res.HasMore, Cursor: res.Cursor}, err
}

func (rt *Routes) listRatelimitNamespaces(ctx context.Context, p *handlers.Principal, in consoleListBody) (any, error) {
	res, err := rt.ListRatelimitNamespaces.Handle(ctx, p, handlers.ListInput{Cursor: in.Cursor, Limit: in.Limit})
	return page{Data: res.Namespaces, HasMore: res.HasMore, Cursor: res.Cursor}, err
}

// The console lists live portals only: a deleted one is history, which
// `keyline portals list` and the audit log keep.
func (rt *Routes) listPortals(ctx context.Context, p *handlers.Principal, _ struct{}) (any, error) {
	return rt.ListPortals.Handle(ctx, p, handlers.ListPortalsInput{LiveOnly: true})
}

func (rt *Routes) createPortal(ctx context.Context, p *handlers.Principal, in handlers.CreatePortalInput) (any, error) {
	return rt.CreatePortal.Handle(ctx, p, in)
}

func (rt *Routes) deletePortal(ctx context.Context, p *handlers.Principal, in handlers.DeletePortalInput) (any, error) {
	return rt.DeletePortal.Handle(ctx, p, in)
}

func (rt *Routes) listAuditLogs(ctx context.Context, p *handlers.Principal, in consoleListBody) (any, error) {
	res, err := rt.ListAuditLogs.Handle(ctx, p, handlers.ListInput{Cursor: in.Cursor, Limit: in.Limit})
	return page{Data: res.Entries, HasMore: res.HasMore, Cursor: res.Cursor}, err
}
