package handlers

import (
	"context"
)

// ListKeysQuery is the input of apis.listKeys.
type ListKeysQuery struct {
	APIID      string
	Limit      int
	Cursor     string
	ExternalID string
	Decrypt    bool
}

// KeyPage is one page of keys. Keys are added by the keys issue; until then
// an API has none.
type KeyPage struct {
	Keys    []map[string]any
	HasMore bool
	Cursor  string
}

// ListKeys lists an API's keys. The lookup comes first and a missing read
// permission is masked as the same 404 a missing API gives, so the endpoint
// does not reveal which API IDs exist. A missing decrypt permission is a real
// 403: the caller can already see the API.
type ListKeys struct{ Reader APIReader }

// NewListKeys builds the use case.
func NewListKeys(r APIReader) *ListKeys { return &ListKeys{Reader: r} }

// Handle returns one page of q.APIID's keys.
func (h *ListKeys) Handle(ctx context.Context, p *Principal, q ListKeysQuery) (KeyPage, error) {
	if _, err := lookupAPI(ctx, h.Reader, p.WorkspaceID, q.APIID); err != nil {
		return KeyPage{}, err
	}
	readKey := p.RequireAny("api.*.read_key", "api."+q.APIID+".read_key")
	readAPI := p.RequireAny("api.*.read_api", "api."+q.APIID+".read_api")
	if readKey != nil || readAPI != nil {
		return KeyPage{}, Fail(CodeAPINotFound, apiNotFoundDetail)
	}
	if q.Decrypt {
		if err := p.RequireAny("api.*.decrypt_key", "api."+q.APIID+".decrypt_key"); err != nil {
			return KeyPage{}, err
		}
	}
	return KeyPage{Keys: []map[string]any{}}, nil
}
