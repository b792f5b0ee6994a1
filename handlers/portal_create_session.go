package handlers

import (
	"context"
	"errors"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
)

// CreatePortalSessionInput is portal.createSession's body.
type CreatePortalSessionInput struct {
	Portal     string   `json:"portal"`
	ExternalID string   `json:"externalId"`
	Scopes     []string `json:"scopes"`
	Preview    bool     `json:"preview"`
	ReturnURL  string   `json:"returnUrl"`
}

// CreatePortalSessionResult is Unkey's V2PortalCreateSessionResponseData.
type CreatePortalSessionResult struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// CreatePortalSession mints a session for one end user of a portal and
// the URL of keyline's own portal page that redeems it.
type CreatePortalSession struct {
	Log       EventLog
	Reader    PortalReader
	PublicURL string
	now       func() time.Time
}

// NewCreatePortalSession builds the use case; the page's base URL comes
// from portal.publicUrl (see PortalPublicURL).
func NewCreatePortalSession(log EventLog, r PortalReader, cfg *configs.Config) *CreatePortalSession {
	return &CreatePortalSession{Log: log, Reader: r, PublicURL: PortalPublicURL(cfg), now: time.Now}
}

// PortalPublicURL is the base URL end users reach keyline at: the
// configured portal.publicUrl, else this node's own address. It never
// comes from a request: a Host header is the client's to choose, and a
// session URL pointing at a host of the attacker's choice would hand them
// the exchange code.
func PortalPublicURL(cfg *configs.Config) string {
	if cfg.Portal.PublicURL != "" {
		return cfg.Portal.PublicURL
	}
	scheme, host := "http", cfg.HTTPHost
	if cfg.TLS != nil {
		scheme = "https"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	port := cfg.HTTPPort
	if port == 0 {
		port = configs.DefaultHTTPPort
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// Handle authorizes in two stages, as Unkey does. First the portal
// permission: without portal.*.create_portal_session or
// portal.<id>.create_portal_session the portal is a 404, so a caller who
// cannot mint for it does not learn it exists. Then every scope must be
// backed by the root key's own tuples on every API of the portal, or the
// whole request is a 403 naming what is missing. The session records the
// tuples it may act with, all held by the root key, so it can never do
// more than its minter.
func (h *CreatePortalSession) Handle(ctx context.Context, p *Principal, in CreatePortalSessionInput) (CreatePortalSessionResult, error) {
	if p.RequireAny("portal.*.create_portal_session", "portal."+in.Portal+".create_portal_session") != nil {
		return CreatePortalSessionResult{}, Fail(CodePortalNotFound, portalNotFoundDetail)
	}
	portal, err := h.Reader.Portal(ctx, p.WorkspaceID, in.Portal)
	if errors.Is(err, events.ErrNotFound) {
		return CreatePortalSessionResult{}, Fail(CodePortalNotFound, portalNotFoundDetail)
	}
	if err != nil {
		return CreatePortalSessionResult{}, Internal("reading portal", err)
	}
	if in.ReturnURL != "" {
		if err := checkReturnURL(in.ReturnURL); err != nil {
			return CreatePortalSessionResult{}, err
		}
	}
	var scopes, perms []string
	grant := func(apiID, action string) error {
		if err := p.RequireAny("api.*."+action, "api."+apiID+"."+action); err != nil {
			return err
		}
		if t := "api." + apiID + "." + action; !slices.Contains(perms, t) {
			perms = append(perms, t)
		}
		return nil
	}
	for _, scope := range in.Scopes {
		if slices.Contains(scopes, scope) {
			continue
		}
		scopes = append(scopes, scope)
		for _, apiID := range portal.APIIDs {
			var err error
			switch scope {
			case events.PortalScopeKeysRead:
				if err = grant(apiID, "read_key"); err == nil {
					err = grant(apiID, "read_api")
				}
			case events.PortalScopeKeysReroll, events.PortalScopeKeysCreate:
				err = grant(apiID, "create_key")
				// Rerolling a recoverable key seals the new one too: the
				// session may do so only when its minter could. keyline has
				// no per-keyspace "stores encrypted keys" flag, so this is
				// carried over when held rather than demanded.
				if err == nil && p.RequireAny("api.*.encrypt_key", "api."+apiID+".encrypt_key") == nil {
					err = grant(apiID, "encrypt_key")
				}
			case events.PortalScopeAnalyticsRead:
				err = grant(apiID, "read_analytics")
			default:
				err = Fail(CodeInvalidInput, "Unknown portal scope '"+scope+"'.")
			}
			if err != nil {
				return CreatePortalSessionResult{}, err
			}
		}
	}
	code := "pst_" + randomString(32, idAlphabet)
	now := h.now().UnixMilli()
	c := events.PortalSessionCreated{SessionID: NewID("ps"), PortalID: portal.ID, WorkspaceID: p.WorkspaceID,
		ExternalID: in.ExternalID, Scopes: scopes, Permissions: perms, Preview: in.Preview, ReturnURL: in.ReturnURL,
		RootKeyID: p.RootKeyID, CodeHash: events.HashKey(code), CodeExpiresAt: now + PortalCodeTTL.Milliseconds()}
	if c.ReturnURL == "" {
		c.ReturnURL = portal.ReturnURL
	}
	var s events.PortalSession
	decided, err := s.Create(c)
	if errors.Is(err, events.ErrPortalInvalid) {
		return CreatePortalSessionResult{}, Fail(CodeInvalidInput, "A portal session needs at least one known scope.")
	}
	if err != nil {
		return CreatePortalSessionResult{}, Internal("deciding portal session", err)
	}
	if _, err := h.Log.Append(ctx, events.PortalSessionStreamID(c.SessionID), 0, metaFor(ctx, p), decided...); err != nil {
		return CreatePortalSessionResult{}, Internal("appending portal_session.created", err)
	}
	return CreatePortalSessionResult{ID: c.SessionID, URL: h.PublicURL + "/portal?code=" + url.QueryEscape(code)}, nil
}
