package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/uptrace/bunrouter"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/handlers/httpapi/openapi"
)

// Routes bundles the use cases the HTTP API calls.
type Routes struct {
	Auth      *handlers.Authenticator
	CreateAPI *handlers.CreateAPI
	GetAPI    *handlers.GetAPI
	DeleteAPI *handlers.DeleteAPI
	ListKeys  *handlers.ListKeys

	CreateKey     *handlers.CreateKey
	GetKey        *handlers.GetKey
	Whoami        *handlers.Whoami
	DeleteKey     *handlers.DeleteKey
	UpdateKey     *handlers.UpdateKey
	UpdateCredits *handlers.UpdateCredits
	VerifyKey     *handlers.VerifyKey

	KeyPermissions *handlers.KeyPermissions
	KeyRoles       *handlers.KeyRoles
	RerollKey      *handlers.RerollKey
	MigrateKeys    *handlers.MigrateKeys
}

// Options are the HTTP settings that are not use cases.
type Options struct {
	MaxBodyBytes int64
	Spec         []byte
}

// NewOptions derives the HTTP options from the configuration.
func NewOptions(cfg *configs.Config) Options {
	return Options{MaxBodyBytes: cfg.MaxRequestBodySize, Spec: openapi.Spec()}
}

// NewRouter builds the HTTP handler serving keyline's API.
func NewRouter(routes *Routes, validator BodyValidator, opts Options, logger *slog.Logger) http.Handler {
	router := bunrouter.New(
		// Unknown paths and methods answer as Go's mux does for Unkey: plain
		// text, not the JSON envelope.
		bunrouter.WithNotFoundHandler(func(w http.ResponseWriter, req bunrouter.Request) error {
			http.NotFound(w, req.Request)
			return nil
		}),
		bunrouter.WithMethodNotAllowedHandler(methodNotAllowed),
	)
	router.GET("/openapi.yaml", func(w http.ResponseWriter, req bunrouter.Request) error {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(opts.Spec)
		return nil
	})
	api := router.NewGroup("/v2", bunrouter.WithMiddleware(withRequestID, withErrors(logger), withBody(opts.MaxBodyBytes, validator)))
	api.GET("/liveness", liveness)
	api.POST("/apis.createApi", routes.createAPI)
	api.POST("/apis.getApi", routes.getAPI)
	api.POST("/apis.deleteApi", routes.deleteAPI)
	api.POST("/apis.listKeys", routes.listKeys)
	api.POST("/keys.createKey", routes.createKey)
	api.POST("/keys.getKey", routes.getKey)
	api.POST("/keys.whoami", routes.whoami)
	api.POST("/keys.deleteKey", routes.deleteKey)
	api.POST("/keys.updateKey", routes.updateKey)
	api.POST("/keys.updateCredits", routes.updateCredits)
	api.POST("/keys.verifyKey", routes.verifyKey)
	api.POST("/keys.addPermissions", routes.keyAccess("add", "permissions"))
	api.POST("/keys.removePermissions", routes.keyAccess("remove", "permissions"))
	api.POST("/keys.setPermissions", routes.keyAccess("set", "permissions"))
	api.POST("/keys.addRoles", routes.keyAccess("add", "roles"))
	api.POST("/keys.removeRoles", routes.keyAccess("remove", "roles"))
	api.POST("/keys.setRoles", routes.keyAccess("set", "roles"))
	api.POST("/keys.rerollKey", routes.rerollKey)
	api.POST("/keys.migrateKeys", routes.migrateKeys)
	return router
}

// methodNotAllowed answers like Go's mux does for Unkey: 405 in plain text
// with an Allow header. Every v2 operation is POST except the GET routes.
func methodNotAllowed(w http.ResponseWriter, req bunrouter.Request) error {
	allow := http.MethodPost
	if req.URL.Path == "/v2/liveness" || req.URL.Path == "/openapi.yaml" {
		allow = http.MethodGet
	}
	w.Header().Set("Allow", allow)
	http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	return nil
}

func liveness(w http.ResponseWriter, req bunrouter.Request) error {
	return writeData(w, req.Request, map[string]string{"message": "we're cooking"})
}

// decode unmarshals the validated body into dst. The schema already vouched
// for the shape, so a failure here is a mismatch between schema and struct.
func decode(req bunrouter.Request, dst any) error {
	if err := json.Unmarshal(body(req), dst); err != nil {
		return &handlers.Error{Code: handlers.CodeInvalidInput, Detail: "The request body does not match the expected shape.", Err: err}
	}
	return nil
}

func (rt *Routes) principal(req bunrouter.Request) (*handlers.Principal, error) {
	return rt.Auth.Authenticate(req.Context(), req.Header.Get("Authorization"))
}
