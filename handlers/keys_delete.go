package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
)

// DeleteKeyInput is the input of DeleteKey.
type DeleteKeyInput struct {
	KeyID     string
	Permanent bool
}

// DeleteKeyResult is what DeleteKey answers.
type DeleteKeyResult struct{}

// DeleteKey deletes a key, softly by default.
type DeleteKey struct{ Log EventLog }

// NewDeleteKey builds the use case.
func NewDeleteKey(log EventLog) *DeleteKey { return &DeleteKey{Log: log} }

// deleteKeyNotFoundDetail is the 404 text of Unkey's deleteKey handler,
// which differs from getKey's, for an unknown and an already deleted key.
const deleteKeyNotFoundDetail = "We could not find the requested key."

// Handle: lookup (404) → delete_key permission (403) → delete. A second
// delete is a 404, as in Unkey.
func (h *DeleteKey) Handle(ctx context.Context, p *Principal, in DeleteKeyInput) (DeleteKeyResult, error) {
	keyID := in.KeyID
	permanent := in.Permanent
	if _, err := lookupKeyForUpdate(ctx, h.Log, p, keyID, "delete_key"); err != nil {
		if e := AsError(err); e.Code == CodeKeyNotFoundData {
			return DeleteKeyResult{}, Fail(CodeKeyNotFoundData, deleteKeyNotFoundDetail)
		}
		return DeleteKeyResult{}, err
	}
	_, err := appendToKey(ctx, h.Log, p, keyID, func(k *events.Key) ([]events.Event, error) {
		return k.Delete(p.WorkspaceID, permanent)
	})
	return DeleteKeyResult{}, err
}
