package handlers

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// Lifetimes of the portal's credentials, as in Unkey: the exchange code
// rides in a URL and so lives briefly; the access token is a day's visit.
const (
	PortalCodeTTL  = 15 * time.Minute
	PortalTokenTTL = 24 * time.Hour
)

// PortalScope is what a portal session lets its end user reach: the keys
// owned by ExternalID within the portal's APIs, with Scopes. It is set on
// the Principal of a portal request only.
type PortalScope struct {
	SessionID   string
	PortalID    string
	PortalName  string
	ExternalID  string
	APIIDs      []string
	KeySpaceIDs []string
	Scopes      []string
	Preview     bool
	ReturnURL   string
	ExpiresAt   int64
}

// Allows reports whether the session was granted scope.
func (s *PortalScope) Allows(scope string) bool { return slices.Contains(s.Scopes, scope) }

// PortalReader is the read side of the portal use cases; projections.Reader
// implements it.
type PortalReader interface {
	KeyReader
	Portal(ctx context.Context, workspaceID, portalID string) (projections.PortalRow, error)
	Portals(ctx context.Context, workspaceID string) ([]projections.PortalRow, error)
	PortalSessionByCode(ctx context.Context, hash string) (projections.PortalSessionRow, error)
	PortalSessionByToken(ctx context.Context, hash string) (projections.PortalSessionRow, error)
	RootKeyByID(ctx context.Context, id string) (projections.RootKeyRow, error)
	KeysOfOwner(ctx context.Context, apiIDs []string, identityID, cursor string, limit int) ([]projections.KeyRow, error)
}

const (
	portalNotFoundDetail        = "The requested portal does not exist or has been deleted."
	portalSessionNotFoundDetail = "The portal session is invalid, expired or has ended."
	portalTokenMissingDetail    = "A portal session cookie (portal_session) is required. Portal routes accept no root key."
)

// PortalSessions authenticates portal requests by their access token.
// Nothing is cached: a session must end at once when its portal is deleted
// or its minting root key revoked, and portal traffic is one person's
// clicks, not a hot path.
type PortalSessions struct {
	Reader PortalReader
	now    func() time.Time
}

// NewPortalSessions builds the authenticator.
func NewPortalSessions(r PortalReader) *PortalSessions {
	return &PortalSessions{Reader: r, now: time.Now}
}

// Authenticate resolves an access token (the portal_session cookie) to a
// Principal of the session's workspace whose only permissions are the
// tuples recorded in the session, with Portal set. A missing token is 400
// portal_token_missing; a token that is unknown, expired, of a deleted
// portal or of a revoked minting root key is 401 portal_session_not_found.
func (s *PortalSessions) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, Fail(CodePortalTokenMissing, portalTokenMissingDetail)
	}
	row, err := s.Reader.PortalSessionByToken(ctx, events.HashKey(token))
	if errors.Is(err, events.ErrNotFound) {
		return nil, Fail(CodePortalSessionNotFound, portalSessionNotFoundDetail)
	}
	if err != nil {
		return nil, Internal("reading portal session", err)
	}
	if row.TokenExpiresAt == nil || s.now().UnixMilli() >= *row.TokenExpiresAt {
		return nil, Fail(CodePortalSessionNotFound, portalSessionNotFoundDetail)
	}
	portal, err := s.live(ctx, row)
	if err != nil {
		return nil, err
	}
	p := NewPrincipal(row.WorkspaceID, row.ID, row.Permissions)
	p.Portal = &PortalScope{SessionID: row.ID, PortalID: row.PortalID, PortalName: portal.Name, ExternalID: row.ExternalID,
		APIIDs: portal.APIIDs, KeySpaceIDs: portal.KeySpaceIDs, Scopes: row.Scopes, Preview: row.Preview,
		ReturnURL: row.ReturnURL, ExpiresAt: *row.TokenExpiresAt}
	return p, nil
}

// live checks what a session depends on besides its own expiry: its
// portal, its workspace and the root key that minted it.
func (s *PortalSessions) live(ctx context.Context, row projections.PortalSessionRow) (projections.PortalRow, error) {
	portal, err := s.Reader.Portal(ctx, row.WorkspaceID, row.PortalID)
	if errors.Is(err, events.ErrNotFound) {
		return portal, Fail(CodePortalSessionNotFound, portalSessionNotFoundDetail)
	}
	if err != nil {
		return portal, Internal("reading portal", err)
	}
	rk, err := s.Reader.RootKeyByID(ctx, row.RootKeyID)
	if errors.Is(err, events.ErrNotFound) || (err == nil && rk.Revoked()) {
		return portal, Fail(CodePortalSessionNotFound, portalSessionNotFoundDetail)
	}
	if err != nil {
		return portal, Internal("reading the session's root key", err)
	}
	ws, err := s.Reader.Workspace(ctx, row.WorkspaceID)
	if err != nil {
		return portal, Fail(CodePortalSessionNotFound, portalSessionNotFoundDetail)
	}
	if !ws.Enabled() {
		return portal, Fail(CodeWorkspaceDisabled, workspaceDisabledDetail)
	}
	return portal, nil
}

// portalOnly refuses a principal that is not a portal session (a root key
// never reaches the portal routes, but a use case does not rely on that),
// and one whose session lacks scope (403).
func portalOnly(p *Principal, scope string) (*PortalScope, error) {
	if p == nil || p.Portal == nil {
		return nil, Fail(CodePortalTokenMissing, portalTokenMissingDetail)
	}
	if !p.Portal.Allows(scope) {
		return nil, Fail(CodeInsufficientPerms, "Missing portal scope: '"+scope+"'")
	}
	return p.Portal, nil
}

// portalOwnership is what a session's end user owns: their identity and
// the portal's live APIs. Owns is false when the end user has no identity
// yet, or no API of the portal is left: they own nothing.
type portalOwnership struct {
	IdentityID string
	APIIDs     []string
	Owns       bool
}

// sessionOwner is the preamble of the end user's key use cases: the
// session must hold scope (403), then what the end user owns.
func sessionOwner(ctx context.Context, r PortalReader, p *Principal, scope string) (portalOwnership, error) {
	if _, err := portalOnly(p, scope); err != nil {
		return portalOwnership{}, err
	}
	return portalOwner(ctx, r, p)
}

// portalOwner is sessionOwner without the scope check.
func portalOwner(ctx context.Context, r PortalReader, p *Principal) (portalOwnership, error) {
	row, err := r.IdentityByExternalID(ctx, p.WorkspaceID, p.Portal.ExternalID)
	if errors.Is(err, events.ErrNotFound) {
		return portalOwnership{}, nil
	}
	if err != nil {
		return portalOwnership{}, Internal("reading identity", err)
	}
	owner := portalOwnership{IdentityID: row.ID}
	for _, id := range p.Portal.APIIDs {
		_, err := r.API(ctx, p.WorkspaceID, id)
		if errors.Is(err, events.ErrNotFound) {
			continue
		}
		if err != nil {
			return portalOwnership{}, Internal("reading api", err)
		}
		owner.APIIDs = append(owner.APIIDs, id)
	}
	owner.Owns = len(owner.APIIDs) > 0
	return owner, nil
}

// ownedKey returns keyID when the session's end user owns it within the
// portal's live APIs. Anything else, another identity's key included, is
// the same 404 a missing key gives.
func ownedKey(ctx context.Context, r PortalReader, p *Principal, keyID string) (projections.KeyRow, error) {
	owner, err := portalOwner(ctx, r, p)
	if err != nil {
		return projections.KeyRow{}, err
	}
	return owner.key(ctx, r, p, keyID)
}

// key is ownedKey once the ownership is known.
func (o portalOwnership) key(ctx context.Context, r PortalReader, p *Principal, keyID string) (projections.KeyRow, error) {
	identityID, apiIDs := o.IdentityID, o.APIIDs
	notFound := Fail(CodeKeyNotFoundData, keyNotFoundDetail)
	if !o.Owns {
		return projections.KeyRow{}, notFound
	}
	row, err := r.Key(ctx, p.WorkspaceID, keyID)
	if errors.Is(err, events.ErrNotFound) {
		return row, notFound
	}
	if err != nil {
		return row, Internal("reading key", err)
	}
	if row.IdentityID != identityID || !slices.Contains(apiIDs, row.APIID) {
		return projections.KeyRow{}, notFound
	}
	return row, nil
}

// portalOperator: the principal `keyline portals` acts with names a
// workspace and no root key. The operator at the command line owns the
// store, so the portal admin use cases check no permission for it; a root
// key (the console) needs the grants of the portal.* tuples.
func portalOperator(p *Principal) bool { return p.RootKeyID == "" && p.Portal == nil }

// requirePortalAdmin is RequireAny for a root key and nothing for the
// operator.
func requirePortalAdmin(p *Principal, perms ...string) error {
	if portalOperator(p) {
		return nil
	}
	return p.RequireAny(perms...)
}
