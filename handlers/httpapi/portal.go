package httpapi

import (
	"context"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/uptrace/bunrouter"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/handlers"
)

// PortalCookie is the name of the portal access-token cookie, Unkey's.
const PortalCookie = "portal_session"

// portalHTTP is what the portal routes need beyond their use cases: the
// origin the portal page is served from, and whether the cookie must be
// Secure (served over TLS, directly or behind a TLS-terminating proxy
// named by portal.publicUrl).
type portalHTTP struct {
	origin string
	secure bool
}

func newPortalHTTP(cfg *configs.Config) portalHTTP {
	base := handlers.PortalPublicURL(cfg)
	u, err := url.Parse(base)
	if err != nil {
		return portalHTTP{secure: cfg.TLS != nil}
	}
	return portalHTTP{origin: u.Scheme + "://" + u.Host, secure: cfg.TLS != nil || u.Scheme == "https"}
}

// crossSite refuses a request a browser sent on behalf of another site:
// the portal routes are authenticated by a cookie the browser attaches by
// itself, so this is their CSRF protection (the exchange, which sets the
// cookie, is covered too: a forged one would log the victim into the
// attacker's session). A browser marks every fetch with Sec-Fetch-Site
// and every cross-origin POST with Origin; both must say "this site".
// The body must be JSON, which a cross-site form cannot send without a
// CORS preflight that keyline never grants. Server-side callers (the SDK)
// send neither header and are not subject to CSRF.
func (ph portalHTTP) crossSite(r *http.Request) error {
	refuse := handlers.Fail(handlers.CodeForbidden, "Cross-site requests to portal routes are refused.")
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return refuse
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if origin != ph.origin && origin != scheme+"://"+r.Host {
			return refuse
		}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return handlers.Fail(handlers.CodeForbidden, "Portal routes accept only application/json bodies.")
	}
	return nil
}

// noStore marks an answer as personal: codes, tokens and an end user's
// keys must not sit in any cache.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// portalSession adapts a portal use case: CSRF check, decode, the
// portal_session cookie (never the Authorization header: a root key is
// refused here like no credential at all), run, encode.
func portalSession[In any](rt *Routes, ph portalHTTP, run func(ctx context.Context, p *handlers.Principal, in In) (any, error)) bunrouter.HandlerFunc {
	return func(w http.ResponseWriter, req bunrouter.Request) error {
		noStore(w)
		if err := ph.crossSite(req.Request); err != nil {
			return err
		}
		var in In
		if err := decode(req, &in); err != nil {
			return err
		}
		token := ""
		if c, err := req.Cookie(PortalCookie); err == nil {
			token = c.Value
		}
		p, err := rt.PortalSessions.Authenticate(req.Context(), token)
		if err != nil {
			return err
		}
		out, err := run(req.Context(), p, in)
		if err != nil {
			return err
		}
		if pg, ok := out.(page); ok {
			return writePage(w, req.Request, pg.Data, pg.HasMore, pg.Cursor)
		}
		return writeData(w, req.Request, out)
	}
}

func (rt *Routes) portalCreateSession(ctx context.Context, p *handlers.Principal, in handlers.CreatePortalSessionInput) (any, error) {
	return rt.CreatePortalSession.Handle(ctx, p, in)
}

// portalExchangeCode redeems the code and sets the portal_session cookie:
// HttpOnly (no script reads it), SameSite=Strict (no other site's page
// sends it), Secure when served over TLS, for /v2 only, and as long as the
// token lives.
func (rt *Routes) portalExchangeCode(ph portalHTTP) bunrouter.HandlerFunc {
	return func(w http.ResponseWriter, req bunrouter.Request) error {
		noStore(w)
		if err := ph.crossSite(req.Request); err != nil {
			return err
		}
		var in handlers.ExchangePortalCodeInput
		if err := decode(req, &in); err != nil {
			return err
		}
		out, err := rt.ExchangePortalCode.Handle(req.Context(), nil, in)
		if err != nil {
			return err
		}
		http.SetCookie(w, &http.Cookie{Name: PortalCookie, Value: out.AccessToken, Path: "/v2",
			Expires: time.UnixMilli(out.ExpiresAt).UTC(), MaxAge: int(handlers.PortalTokenTTL.Seconds()),
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: ph.secure})
		return writeData(w, req.Request, out)
	}
}

func (rt *Routes) portalListKeys(ctx context.Context, p *handlers.Principal, in handlers.PortalListKeysInput) (any, error) {
	pg, err := rt.PortalListKeys.Handle(ctx, p, in)
	if err != nil {
		return nil, err
	}
	return page{Data: pg.Keys, HasMore: pg.HasMore, Cursor: pg.Cursor}, nil
}

func (rt *Routes) portalRerollKey(ctx context.Context, p *handlers.Principal, in handlers.PortalRerollKeyInput) (any, error) {
	return rt.PortalRerollKey.Handle(ctx, p, in)
}

func (rt *Routes) portalGetVerifications(ctx context.Context, p *handlers.Principal, in handlers.PortalGetVerificationsInput) (any, error) {
	return rt.PortalGetVerifications.Handle(ctx, p, in)
}

// portalCreateSessionRoute is createSession: a root-key operation like any
// other, but its answer carries an exchange code, so it must not be cached.
func portalCreateSessionRoute(rt *Routes) bunrouter.HandlerFunc {
	h := operation(rt, rt.portalCreateSession)
	return func(w http.ResponseWriter, req bunrouter.Request) error {
		noStore(w)
		return h(w, req)
	}
}
