package handlers

import (
	"context"
	"errors"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/keyring"
)

// ListKeysInput is the input of apis.listKeys.
type ListKeysInput struct {
	APIID      string
	Limit      int
	Cursor     string
	ExternalID string
	Decrypt    bool
}

// ListKeysResult is one page of keys.
type ListKeysResult struct {
	Keys    []KeyData
	HasMore bool
	Cursor  string
}

// ListKeys lists an API's keys. The lookup comes first and a missing read
// permission is masked as the same 404 a missing API gives, so the endpoint
// does not reveal which API IDs exist. A missing decrypt permission is a real
// 403: the caller can already see the API.
type ListKeys struct {
	Reader KeyReader
	Ring   *keyring.Keyring
}

// NewListKeys builds the use case.
func NewListKeys(r KeyReader, ring *keyring.Keyring) *ListKeys {
	return &ListKeys{Reader: r, Ring: ring}
}

// Handle returns one page of q.APIID's keys in ID order. The cursor is the
// ID of the first key of the next page, as in Unkey.
func (h *ListKeys) Handle(ctx context.Context, p *Principal, in ListKeysInput) (ListKeysResult, error) {
	q := in
	api, err := lookupAPI(ctx, h.Reader, p.WorkspaceID, q.APIID)
	if err != nil {
		return ListKeysResult{}, err
	}
	ks := "keyspaces/" + api.KeySpaceID
	tuples := p.RequireAny("api.*.read_key", "api."+q.APIID+".read_key") == nil &&
		p.RequireAny("api.*.read_api", "api."+q.APIID+".read_api") == nil
	urns := p.Has(p.URN(ks+"/keys/*", "read_key")) && p.Has(p.URN(ks, "read_keyspace"))
	if !tuples && !urns {
		return ListKeysResult{}, Fail(CodeAPINotFound, apiNotFoundDetail)
	}
	if q.Decrypt {
		if err := p.RequireAny(keyPerms(p, api.ID, api.KeySpaceID, "*", "decrypt_key")...); err != nil {
			return ListKeysResult{}, err
		}
		if !h.Ring.Ready() {
			return ListKeysResult{}, Fail(CodePreconditionFailed, vaultMissingDetail)
		}
	}
	identityID := ""
	if q.ExternalID != "" {
		row, err := h.Reader.IdentityByExternalID(ctx, p.WorkspaceID, q.ExternalID)
		if errors.Is(err, events.ErrNotFound) {
			return ListKeysResult{Keys: []KeyData{}}, nil
		}
		if err != nil {
			return ListKeysResult{}, Internal("reading identity", err)
		}
		identityID = row.ID
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := h.Reader.KeysOfAPI(ctx, q.APIID, q.Cursor, identityID, q.ExternalID != "", limit)
	if err != nil {
		return ListKeysResult{}, Internal("listing keys", err)
	}
	page := ListKeysResult{}
	if len(rows) > limit {
		page.HasMore, page.Cursor = true, rows[limit].ID
		rows = rows[:limit]
	}
	if page.Keys, err = keyData(ctx, h.Reader, h.Ring, rows, q.Decrypt); err != nil {
		return ListKeysResult{}, err
	}
	return page, nil
}
