package handlers

import (
	"context"
	"slices"
)

// RootKeySelf is what a root key may learn about itself.
type RootKeySelf struct {
	WorkspaceID string   `json:"workspaceId"`
	RootKeyID   string   `json:"rootKeyId"`
	Permissions []string `json:"permissions"`
}

// RootKeyWhoami tells a root key its workspace and permissions (keyline's
// own operation): the console decides from them what to show, instead of
// trying every operation and reading 403s. A key learns only what it was
// given, so no permission is needed.
type RootKeyWhoami struct{}

// NewRootKeyWhoami builds the use case.
func NewRootKeyWhoami() *RootKeyWhoami { return &RootKeyWhoami{} }

// RootKeyWhoamiInput is empty: the caller is the subject.
type RootKeyWhoamiInput struct{}

// RootKeyWhoamiResult describes the calling root key.
type RootKeyWhoamiResult = RootKeySelf

// Handle answers for the authenticated root key.
func (h *RootKeyWhoami) Handle(_ context.Context, p *Principal, _ RootKeyWhoamiInput) (RootKeyWhoamiResult, error) {
	perms := make([]string, 0, len(p.permissions))
	for perm := range p.permissions {
		perms = append(perms, perm)
	}
	slices.Sort(perms)
	return RootKeySelf{WorkspaceID: p.WorkspaceID, RootKeyID: p.RootKeyID, Permissions: perms}, nil
}
