package handlers

import (
	"context"
	"errors"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/keyring"
	"github.com/keyline/keyline/projections"
)

// GetKeyInput is the input of GetKey.
type GetKeyInput struct {
	KeyID   string
	Decrypt bool
}

// GetKeyResult is what GetKey answers.
type GetKeyResult = KeyData

// GetKey reads one key by ID.
type GetKey struct {
	Reader KeyReader
	Ring   *keyring.Keyring
}

// NewGetKey builds the use case.
func NewGetKey(r KeyReader, ring *keyring.Keyring) *GetKey { return &GetKey{Reader: r, Ring: ring} }

// Handle looks the key up in the caller's workspace (404), then checks read
// (and, with decrypt, decrypt) permission on its API (403).
func (h *GetKey) Handle(ctx context.Context, p *Principal, in GetKeyInput) (GetKeyResult, error) {
	keyID := in.KeyID
	decrypt := in.Decrypt
	row, err := h.Reader.Key(ctx, p.WorkspaceID, keyID)
	if errors.Is(err, events.ErrNotFound) {
		return KeyData{}, Fail(CodeKeyNotFoundData, keyNotFoundDetail)
	}
	if err != nil {
		return KeyData{}, Internal("reading key", err)
	}
	if err := p.RequireAny(keyPerms(p, row.APIID, row.KeySpaceID, row.ID, "read_key")...); err != nil {
		return KeyData{}, err
	}
	if decrypt {
		if err := p.RequireAny(keyPerms(p, row.APIID, row.KeySpaceID, row.ID, "decrypt_key")...); err != nil {
			return KeyData{}, err
		}
		if !h.Ring.Ready() {
			return KeyData{}, Fail(CodePreconditionFailed, vaultMissingDetail)
		}
	}
	out, err := keyData(ctx, h.Reader, h.Ring, []projections.KeyRow{row}, decrypt)
	if err != nil {
		return KeyData{}, err
	}
	return out[0], nil
}

// WhoamiInput is the input of Whoami.
type WhoamiInput struct {
	Key string
}

// WhoamiResult is what Whoami answers.
type WhoamiResult = KeyData

// Whoami reads the key a plaintext belongs to.
type Whoami struct {
	Reader KeyReader
	Ring   *keyring.Keyring
}

// NewWhoami builds the use case.
func NewWhoami(r KeyReader, ring *keyring.Keyring) *Whoami { return &Whoami{Reader: r, Ring: ring} }

// Handle masks a missing read permission as the same 404 an unknown key
// gives: the caller holds a plaintext and must not learn whether it is real.
func (h *Whoami) Handle(ctx context.Context, p *Principal, in WhoamiInput) (WhoamiResult, error) {
	key := in.Key
	row, err := h.Reader.KeyByHash(ctx, events.HashKey(key))
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return KeyData{}, Internal("reading key", err)
	}
	if err != nil || row.WorkspaceID != p.WorkspaceID || p.RequireAny(keyPerms(p, row.APIID, row.KeySpaceID, row.ID, "read_key")...) != nil {
		return KeyData{}, Fail(CodeKeyNotFoundData, keyNotFoundDetail)
	}
	if _, err := h.Reader.API(ctx, p.WorkspaceID, row.APIID); err != nil {
		return KeyData{}, Fail(CodeKeyNotFoundData, keyNotFoundDetail)
	}
	out, err := keyData(ctx, h.Reader, h.Ring, []projections.KeyRow{row}, false)
	if err != nil {
		return KeyData{}, err
	}
	return out[0], nil
}
