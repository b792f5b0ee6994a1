package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/uptrace/bunrouter"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/handlers/httpapi/openapi"
	"github.com/keyline/keyline/handlers/httpapi/web"
)

// Routes bundles the use cases the HTTP API calls.
type Routes struct {
	Auth      *handlers.Authenticator
	CreateAPI *handlers.CreateAPI
	GetAPI    *handlers.GetAPI
	DeleteAPI *handlers.DeleteAPI
	ListKeys  *handlers.ListKeys

	RatelimitLimit          *handlers.RatelimitLimit
	RatelimitMultiLimit     *handlers.RatelimitMultiLimit
	SetRatelimitOverride    *handlers.SetRatelimitOverride
	GetRatelimitOverride    *handlers.GetRatelimitOverride
	ListRatelimitOverrides  *handlers.ListRatelimitOverrides
	DeleteRatelimitOverride *handlers.DeleteRatelimitOverride
	CreateKey               *handlers.CreateKey
	GetKey                  *handlers.GetKey
	Whoami                  *handlers.Whoami
	DeleteKey               *handlers.DeleteKey
	UpdateKey               *handlers.UpdateKey
	UpdateCredits           *handlers.UpdateCredits
	VerifyKey               *handlers.VerifyKey

	KeyPermissions *handlers.KeyPermissions
	KeyRoles       *handlers.KeyRoles
	RerollKey      *handlers.RerollKey
	MigrateKeys    *handlers.MigrateKeys

	CreateIdentity *handlers.CreateIdentity
	GetIdentity    *handlers.GetIdentity
	ListIdentities *handlers.ListIdentities
	UpdateIdentity *handlers.UpdateIdentity
	DeleteIdentity *handlers.DeleteIdentity

	CreatePermission   *handlers.CreatePermission
	GetPermission      *handlers.GetPermission
	ListPermissions    *handlers.ListPermissions
	DeletePermission   *handlers.DeletePermission
	CreateRole         *handlers.CreateRole
	GetRole            *handlers.GetRole
	ListRoles          *handlers.ListRoles
	DeleteRole         *handlers.DeleteRole
	SetRolePermissions *handlers.SetRolePermissions

	GetVerifications *handlers.GetVerifications
	GetRatelimits    *handlers.GetRatelimits

	PortalSessions         *handlers.PortalSessions
	CreatePortalSession    *handlers.CreatePortalSession
	ExchangePortalCode     *handlers.ExchangePortalCode
	PortalListKeys         *handlers.PortalListKeys
	PortalRerollKey        *handlers.PortalRerollKey
	PortalGetVerifications *handlers.PortalGetVerifications

	// keyline's own operations, for the console (see console.go).
	RootKeyWhoami           *handlers.RootKeyWhoami
	ListAPIs                *handlers.ListAPIs
	ListRatelimitNamespaces *handlers.ListRatelimitNamespaces
	ListPortals             *handlers.ListPortals
	CreatePortal            *handlers.CreatePortal
	DeletePortal            *handlers.DeletePortal
	ListAuditLogs           *handlers.ListAuditLogs
}

// Options are the HTTP settings that are not use cases.
type Options struct {
	MaxBodyBytes int64
	Spec         []byte
	// Observer counts and times requests per operation; nil, or one whose
	// Operation returns nil, observes nothing.
	Observer RequestObserver
	// Readiness answers GET /readyz; nil answers it ready whenever the
	// process serves.
	Readiness Readiness
	// Tracer opens a span per operation; nil (tracing off) adds nothing
	// to any request.
	Tracer trace.Tracer
	// portal: the portal routes' origin and cookie settings.
	portal portalHTTP
}

// NewOptions derives the HTTP options from the configuration.
func NewOptions(cfg *configs.Config, observer RequestObserver, readiness Readiness) Options {
	opts := Options{MaxBodyBytes: cfg.MaxRequestBodySize, Spec: openapi.Spec(), Observer: observer, Readiness: readiness,
		portal: newPortalHTTP(cfg)}
	if cfg.Tracing.Enabled() {
		opts.Tracer = otel.Tracer(tracerName)
	}
	return opts
}

// NewRouter builds the HTTP handler serving keyline's API.
func NewRouter(routes *Routes, validator BodyValidator, opts Options, logger *slog.Logger) http.Handler {
	h, _ := newRouter(routes, validator, opts, logger)
	return h
}

// keylineOnlyRoutes are served but are not Unkey's, so they are not in the
// OpenAPI document; every other route is (a test holds the two lists to
// each other).
var keylineOnlyRoutes = []string{"GET /openapi.yaml", "GET /readyz"}

// keylineOperations are keyline's own /v2 operations (console.go): not in
// the OpenAPI document either.
var keylineOperations = []string{"POST /v2/keyline.whoami", "POST /v2/keyline.listApis", "POST /v2/keyline.listRatelimitNamespaces",
	"POST /v2/keyline.listPortals", "POST /v2/keyline.createPortal", "POST /v2/keyline.deletePortal", "POST /v2/keyline.listAuditLogs"}

// newRouter is NewRouter that also lists the routes it registered
// ("METHOD /path").
func newRouter(routes *Routes, validator BodyValidator, opts Options, logger *slog.Logger) (http.Handler, []string) {
	var served []string
	router := bunrouter.New(
		// Unknown paths and methods answer as Go's mux does for Unkey: plain
		// text, not the JSON envelope.
		bunrouter.WithNotFoundHandler(func(w http.ResponseWriter, req bunrouter.Request) error {
			http.NotFound(w, req.Request)
			return nil
		}),
		bunrouter.WithMethodNotAllowedHandler(methodNotAllowed),
	)
	obs := newObservers(opts.Observer)
	served = append(served, keylineOnlyRoutes...)
	router.GET("/openapi.yaml", obs.wrap("openapi.yaml", func(w http.ResponseWriter, req bunrouter.Request) error {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(opts.Spec)
		return nil
	}))
	// /readyz is keyline's own (Unkey has none), so it lives outside /v2
	// and outside the OpenAPI document.
	router.GET("/readyz", obs.wrap("readyz", readyz(opts.Readiness)))
	// The browser pages and their assets (package web) are keyline's own
	// too; they call /v2 like any other client.
	for _, r := range web.Routes() {
		served = append(served, http.MethodGet+" "+r.Path)
		router.GET(r.Path, obs.wrap("web", bunrouter.HTTPHandler(r.Handler)))
	}
	// Each operation gets a group of its own whose outermost middleware
	// knows the operation's name: its metric children are resolved here,
	// once, and a request refused by validation still counts under it.
	errs, bodies := withErrors(logger), withBody(opts.MaxBodyBytes, validator)
	var span []bunrouter.MiddlewareFunc
	if opts.Tracer != nil {
		// Outermost, so the span covers validation and the error log of a
		// failed request carries its trace ID.
		span = append(span, withSpan(opts.Tracer))
	}
	v2 := func(method, op string, h bunrouter.HandlerFunc) {
		served = append(served, method+" /v2/"+op)
		middleware := append(slices.Clip(span), obs.middleware(op), errs, bodies)
		router.NewGroup("/v2", bunrouter.WithMiddleware(middleware...)).Handle(method, "/"+op, h)
	}
	post := func(op string, h bunrouter.HandlerFunc) { v2(http.MethodPost, op, h) }
	v2(http.MethodGet, "liveness", liveness)
	post("apis.createApi", operation(routes, routes.createAPI))
	post("apis.getApi", operation(routes, routes.getAPI))
	post("apis.deleteApi", operation(routes, routes.deleteAPI))
	post("apis.listKeys", operation(routes, routes.listKeys))
	post("ratelimit.limit", operation(routes, routes.ratelimitLimit))
	post("ratelimit.multiLimit", operation(routes, routes.ratelimitMultiLimit))
	post("ratelimit.setOverride", operation(routes, routes.ratelimitSetOverride))
	post("ratelimit.getOverride", operation(routes, routes.ratelimitGetOverride))
	post("ratelimit.listOverrides", operation(routes, routes.ratelimitListOverrides))
	post("ratelimit.deleteOverride", operation(routes, routes.ratelimitDeleteOverride))
	post("keys.createKey", operation(routes, routes.createKey))
	post("keys.getKey", operation(routes, routes.getKey))
	post("keys.whoami", operation(routes, routes.whoami))
	post("keys.deleteKey", operation(routes, routes.deleteKey))
	post("keys.updateKey", operation(routes, routes.updateKey))
	post("keys.updateCredits", operation(routes, routes.updateCredits))
	post("keys.verifyKey", route(routes.Auth.Resolve, routes.verifyKey))
	post("keys.addPermissions", operation(routes, routes.keyPermissions(handlers.AccessAdd)))
	post("keys.removePermissions", operation(routes, routes.keyPermissions(handlers.AccessRemove)))
	post("keys.setPermissions", operation(routes, routes.keyPermissions(handlers.AccessSet)))
	post("keys.addRoles", operation(routes, routes.keyRoles(handlers.AccessAdd)))
	post("keys.removeRoles", operation(routes, routes.keyRoles(handlers.AccessRemove)))
	post("keys.setRoles", operation(routes, routes.keyRoles(handlers.AccessSet)))
	post("keys.rerollKey", operation(routes, routes.rerollKey))
	post("keys.migrateKeys", operation(routes, routes.migrateKeys))
	post("identities.createIdentity", operation(routes, routes.createIdentity))
	post("identities.getIdentity", operation(routes, routes.getIdentity))
	post("identities.listIdentities", operation(routes, routes.listIdentities))
	post("identities.updateIdentity", operation(routes, routes.updateIdentity))
	post("identities.deleteIdentity", operation(routes, routes.deleteIdentity))
	post("permissions.createPermission", operation(routes, routes.createPermission))
	post("permissions.getPermission", operation(routes, routes.getPermission))
	post("permissions.listPermissions", operation(routes, routes.listPermissions))
	post("permissions.deletePermission", operation(routes, routes.deletePermission))
	post("permissions.createRole", operation(routes, routes.createRole))
	post("permissions.getRole", operation(routes, routes.getRole))
	post("permissions.listRoles", operation(routes, routes.listRoles))
	post("permissions.deleteRole", operation(routes, routes.deleteRole))
	post("permissions.setRolePermissions", operation(routes, routes.setRolePermissions))
	post("analytics.getVerifications", operation(routes, routes.getVerifications))
	post("analytics.getRatelimits", operation(routes, routes.getRatelimits))
	post("portal.createSession", portalCreateSessionRoute(routes))
	post("portal.exchangeCode", routes.portalExchangeCode(opts.portal))
	post("portal.listKeys", portalSession(routes, opts.portal, routes.portalListKeys))
	post("portal.rerollKey", portalSession(routes, opts.portal, routes.portalRerollKey))
	post("portal.getVerifications", portalSession(routes, opts.portal, routes.portalGetVerifications))
	post("keyline.whoami", operation(routes, routes.rootKeyWhoami))
	post("keyline.listApis", operation(routes, routes.listAPIs))
	post("keyline.listRatelimitNamespaces", operation(routes, routes.listRatelimitNamespaces))
	post("keyline.listPortals", operation(routes, routes.listPortals))
	post("keyline.createPortal", operation(routes, routes.createPortal))
	post("keyline.deletePortal", operation(routes, routes.deletePortal))
	post("keyline.listAuditLogs", operation(routes, routes.listAuditLogs))
	return guard{next: router, logger: logger, unknown: obs.unknown}, served
}

// methodNotAllowed answers like Go's mux does for Unkey: 405 in plain text
// with an Allow header. Every v2 operation is POST except liveness; every
// route outside /v2 (the spec, readiness, the pages) is GET.
func methodNotAllowed(w http.ResponseWriter, req bunrouter.Request) error {
	allow := http.MethodPost
	if req.URL.Path == "/v2/liveness" || !strings.HasPrefix(req.URL.Path, "/v2/") {
		allow = http.MethodGet
	}
	w.Header().Set("Allow", allow)
	http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	return nil
}

func liveness(w http.ResponseWriter, req bunrouter.Request) error {
	return writeData(w, req.Request, map[string]string{"message": "we're cooking"})
}

// page is what a list operation returns: the envelope gets "pagination".
type page struct {
	Data    any
	HasMore bool
	Cursor  string
}

// operation adapts a use case to a route, so that every route is only its
// own decode-call-encode: the validated body is decoded into In, the root
// key authenticated, run called, and its result wrapped in the envelope.
func operation[In any](rt *Routes, run func(ctx context.Context, p *handlers.Principal, in In) (any, error)) bunrouter.HandlerFunc {
	return route(rt.Auth.Authenticate, func(req bunrouter.Request, p *handlers.Principal, in In) (any, error) {
		return run(req.Context(), p, in)
	})
}

// authenticator turns the Authorization header into a principal.
type authenticator func(ctx context.Context, header string) (*handlers.Principal, error)

// route is operation with the authentication chosen by the route and the
// request handed to run, for the one route that needs both: keys.verifyKey
// reads the client's address and accepts root keys of a disabled workspace
// (see handlers.Authenticator.Resolve).
func route[In any](authenticate authenticator, run func(req bunrouter.Request, p *handlers.Principal, in In) (any, error)) bunrouter.HandlerFunc {
	return func(w http.ResponseWriter, req bunrouter.Request) error {
		var in In
		if err := decode(req, &in); err != nil {
			return err
		}
		p, err := authenticate(req.Context(), req.Header.Get("Authorization"))
		if err != nil {
			return err
		}
		out, err := run(req, p, in)
		if err != nil {
			return err
		}
		if pg, ok := out.(page); ok {
			return writePage(w, req.Request, pg.Data, pg.HasMore, pg.Cursor)
		}
		if _, ok := out.(metaOnly); ok {
			return writeEnvelope(w, struct {
				Meta meta `json:"meta"`
			}{meta{RequestID: handlers.RequestID(req.Context())}})
		}
		return writeData(w, req.Request, out)
	}
}

// flatDecoder is a request body that can read its common form without
// reflection (see package flatjson). decodeFlat returns false, whatever it
// filled in, when the body is outside that form; decode then starts over.
type flatDecoder interface {
	decodeFlat(body []byte) bool
}

// decode unmarshals the validated body into dst. The schema already vouched
// for the shape, so a failure is a mismatch between schema and struct: still
// the client's 400, never a 500.
func decode[In any](req bunrouter.Request, dst *In) error {
	b := body(req)
	if fd, ok := any(dst).(flatDecoder); ok {
		if fd.decodeFlat(b) {
			return nil
		}
		var zero In
		*dst = zero
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return &handlers.Error{Code: handlers.CodeInvalidInput, Detail: "The request body does not match the expected shape.", Err: err}
	}
	return nil
}
