package events

import (
	"errors"
	"slices"
)

// PortalCreated opens a customer portal: a page of one workspace where an
// API provider's end users see and roll their own keys of the named APIs.
// KeySpaceIDs are the APIs' key spaces, in the same order: an API's key space
// never changes, so recording it here spares every portal request a lookup.
type PortalCreated struct {
	PortalID    string   `json:"portalId"`
	WorkspaceID string   `json:"workspaceId"`
	Name        string   `json:"name"`
	APIIDs      []string `json:"apiIds"`
	KeySpaceIDs []string `json:"keySpaceIds"`
	ReturnURL   string   `json:"returnUrl,omitempty"`
}

func (PortalCreated) EventName() string { return "portal.created" }
func (PortalCreated) EventVersion() int { return 1 }
func (e *PortalCreated) value() Event   { return *e }

// PortalDeleted removes a portal. Every session minted for it ends with it:
// its exchange codes and access tokens are refused from then on.
type PortalDeleted struct {
	PortalID    string `json:"portalId"`
	WorkspaceID string `json:"workspaceId"`
}

func (PortalDeleted) EventName() string { return "portal.deleted" }
func (PortalDeleted) EventVersion() int { return 1 }
func (e *PortalDeleted) value() Event   { return *e }

// PortalSessionCreated records a session minted by a root key for one end
// user (ExternalID) of a portal. Only the hash of the single-use exchange
// code is stored; CodeExpiresAt is absolute (unix ms), so a replay of the
// log can never make an expired code redeemable again. Permissions are the
// legacy tuples the session acts with, each one held by the minting root
// key when the session was created: a session never carries more than its
// minter could do.
type PortalSessionCreated struct {
	SessionID     string   `json:"sessionId"`
	PortalID      string   `json:"portalId"`
	WorkspaceID   string   `json:"workspaceId"`
	ExternalID    string   `json:"externalId"`
	Scopes        []string `json:"scopes"`
	Permissions   []string `json:"permissions"`
	Preview       bool     `json:"preview,omitempty"`
	ReturnURL     string   `json:"returnUrl,omitempty"`
	RootKeyID     string   `json:"rootKeyId"`
	CodeHash      string   `json:"codeHash"`
	CodeExpiresAt int64    `json:"codeExpiresAt"`
}

func (PortalSessionCreated) EventName() string { return "portal_session.created" }
func (PortalSessionCreated) EventVersion() int { return 1 }
func (e *PortalSessionCreated) value() Event   { return *e }

// PortalSessionExchanged records the one redemption of a session's exchange
// code for an access token, of which only the hash is stored. ExpiresAt is
// absolute (unix ms), for the same reason as CodeExpiresAt.
type PortalSessionExchanged struct {
	SessionID string `json:"sessionId"`
	TokenHash string `json:"tokenHash"`
	ExpiresAt int64  `json:"expiresAt"`
}

func (PortalSessionExchanged) EventName() string { return "portal_session.exchanged" }
func (PortalSessionExchanged) EventVersion() int { return 1 }
func (e *PortalSessionExchanged) value() Event   { return *e }

func init() {
	register(func() Event { return &PortalCreated{} })
	register(func() Event { return &PortalDeleted{} })
	register(func() Event { return &PortalSessionCreated{} })
	register(func() Event { return &PortalSessionExchanged{} })
}

// PortalStreamID names the stream of one portal.
func PortalStreamID(portalID string) string { return "portal-" + portalID }

// PortalSessionStreamID names the stream of one portal session.
func PortalSessionStreamID(sessionID string) string { return "portal_session-" + sessionID }

// Portal scopes: the capabilities a session grants its end user, Unkey's
// fixed vocabulary.
const (
	PortalScopeKeysRead      = "keys:read"
	PortalScopeKeysCreate    = "keys:create"
	PortalScopeKeysReroll    = "keys:reroll"
	PortalScopeAnalyticsRead = "analytics:read"
)

// Portal is the folded state of a portal stream.
type Portal struct {
	ID          string
	WorkspaceID string
	Name        string
	APIIDs      []string
	KeySpaceIDs []string
	Deleted     bool
	Version     int64
}

// Apply folds one event into the state.
func (p *Portal) Apply(e Event) {
	switch e := e.(type) {
	case PortalCreated:
		p.ID, p.WorkspaceID, p.Name = e.PortalID, e.WorkspaceID, e.Name
		p.APIIDs, p.KeySpaceIDs = e.APIIDs, e.KeySpaceIDs
	case PortalDeleted:
		p.Deleted = true
	}
	p.Version++
}

// ErrPortalInvalid is a portal definition that cannot be created: no name,
// no API, or API and key-space lists of different lengths.
var ErrPortalInvalid = errors.New("events: invalid portal")

// Create decides the creation of a portal.
func (p *Portal) Create(c PortalCreated) ([]Event, error) {
	if p.Version > 0 {
		return nil, ErrAlreadyExists
	}
	if c.Name == "" || len(c.APIIDs) == 0 || len(c.APIIDs) != len(c.KeySpaceIDs) {
		return nil, ErrPortalInvalid
	}
	return []Event{c}, nil
}

// Delete decides deleting a portal of workspaceID; a portal of another
// workspace is as missing as one that never existed.
func (p *Portal) Delete(workspaceID string) ([]Event, error) {
	if p.Version == 0 || p.Deleted || p.WorkspaceID != workspaceID {
		return nil, ErrNotFound
	}
	return []Event{PortalDeleted{PortalID: p.ID, WorkspaceID: p.WorkspaceID}}, nil
}

// PortalSession is the folded state of a portal session stream.
type PortalSession struct {
	Created   PortalSessionCreated
	Exchanged bool
	Version   int64
}

// Apply folds one event into the state.
func (s *PortalSession) Apply(e Event) {
	switch e := e.(type) {
	case PortalSessionCreated:
		s.Created = e
	case PortalSessionExchanged:
		s.Exchanged = true
	}
	s.Version++
}

// Create decides minting a session. Scopes must be non-empty and known.
func (s *PortalSession) Create(c PortalSessionCreated) ([]Event, error) {
	if s.Version > 0 {
		return nil, ErrAlreadyExists
	}
	if len(c.Scopes) == 0 || c.CodeHash == "" {
		return nil, ErrPortalInvalid
	}
	for _, sc := range c.Scopes {
		if !slices.Contains([]string{PortalScopeKeysRead, PortalScopeKeysCreate, PortalScopeKeysReroll, PortalScopeAnalyticsRead}, sc) {
			return nil, ErrPortalInvalid
		}
	}
	return []Event{c}, nil
}

// Exchange decides the redemption of the code whose hash is codeHash at
// nowMs, for a token whose hash is tokenHash valid until expiresAt. A
// session that does not exist, holds another code, was redeemed already
// or whose code expired gives ErrNotFound: the caller learns nothing about
// which, since the code is the only credential it presented.
func (s *PortalSession) Exchange(codeHash string, nowMs int64, tokenHash string, expiresAt int64) ([]Event, error) {
	if s.Version == 0 || s.Exchanged || s.Created.CodeHash != codeHash || nowMs >= s.Created.CodeExpiresAt {
		return nil, ErrNotFound
	}
	return []Event{PortalSessionExchanged{SessionID: s.Created.SessionID, TokenHash: tokenHash, ExpiresAt: expiresAt}}, nil
}
