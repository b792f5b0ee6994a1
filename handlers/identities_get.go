package handlers

import "context"

// GetIdentityInput is the input of GetIdentity.
type GetIdentityInput struct {
	Identity string
}

// GetIdentityResult is what GetIdentity answers.
type GetIdentityResult = IdentityData

// GetIdentity reads one identity by ID or externalId.
type GetIdentity struct{ Reader IdentityReader }

// NewGetIdentity builds the use case.
func NewGetIdentity(r IdentityReader) *GetIdentity { return &GetIdentity{Reader: r} }

// Handle: lookup (404) → authz (403), Unkey's order: the per-identity tuple
// can only be checked once the ID behind an externalId is known.
func (h *GetIdentity) Handle(ctx context.Context, p *Principal, in GetIdentityInput) (GetIdentityResult, error) {
	ref := in.Identity
	row, err := lookupIdentity(ctx, h.Reader, p, ref)
	if err != nil {
		return GetIdentityResult{}, err
	}
	if err := p.RequireAny(identityPerms(p, row.ID, "read_identity")...); err != nil {
		return GetIdentityResult{}, err
	}
	return *identityData(row), nil
}
