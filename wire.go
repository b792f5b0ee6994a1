//go:build wireinject

// Package keyline wires keyline's processes together. This file holds the
// injectors and nothing else; `make generate` turns it into wire_gen.go, and
// every provider it names is a plain constructor that can be called by hand.
package keyline

import (
	"context"
	"io"
	"log/slog"

	"github.com/google/wire"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/handlers/httpapi"
	"github.com/keyline/keyline/handlers/httpapi/openapi"
	"github.com/keyline/keyline/handlers/services/apicache"
	"github.com/keyline/keyline/handlers/services/credits"
	"github.com/keyline/keyline/handlers/services/keycache"
	"github.com/keyline/keyline/handlers/services/keyring"
	"github.com/keyline/keyline/handlers/services/namespaces"
	"github.com/keyline/keyline/handlers/services/reporting"
	"github.com/keyline/keyline/infra/analytics"
	"github.com/keyline/keyline/infra/clickhouse"
	"github.com/keyline/keyline/infra/cluster"
	"github.com/keyline/keyline/infra/health"
	"github.com/keyline/keyline/infra/heartbeat"
	"github.com/keyline/keyline/infra/httpserver"
	"github.com/keyline/keyline/infra/metrics"
	"github.com/keyline/keyline/infra/outbox"
	"github.com/keyline/keyline/infra/ratelimit"
	"github.com/keyline/keyline/infra/runtime"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/projections"
)

var storeSet = wire.NewSet(
	wire.FieldsOf(new(*configs.Config), "Database", "Projections"),
	sqlstore.Open,
	outbox.ForKind,
	projections.All,
	projections.NewRunner,
	// The store applies projections through the live applier, which also
	// settles the credit spend journal for the folds it appends.
	projections.NewLiveApplier,
	wire.Bind(new(sqlstore.Applier), new(*projections.LiveApplier)),
	sqlstore.NewStore,
	projections.NewReader,
	wire.Bind(new(projections.Databases), new(*sqlstore.DB)),
	wire.Bind(new(handlers.EventLog), new(*sqlstore.Store)),
	wire.Bind(new(credits.Journal), new(*projections.Reader)),
	wire.Bind(new(credits.EventLog), new(*sqlstore.Store)),
	credits.NewFolder,
	wire.Bind(new(handlers.RootKeyLister), new(*projections.Reader)),
	handlers.NewBootstrap,
	clickhouse.OpenConfigured,
)

var apiSet = wire.NewSet(
	storeSet,
	sqlstore.NewTailer,
	handlers.NewAuthenticator,
	wire.Bind(new(handlers.RootKeyFinder), new(*projections.Reader)),
	wire.Bind(new(handlers.APIReader), new(*projections.Reader)),
	handlers.NewCreateAPI,
	handlers.NewGetAPI,
	handlers.NewDeleteAPI,
	handlers.NewListKeys,
	cluster.New,
	// The limiter is Redis when redis.url is set, forwarding to counter
	// owners when clustered without Redis, and in-process memory otherwise.
	cluster.NewLimiter,
	heartbeat.New,
	wire.Bind(new(handlers.Ratelimiter), new(ratelimit.Limiter)),
	wire.Bind(new(handlers.RatelimitReader), new(*projections.Reader)),
	wire.Bind(new(namespaces.Reader), new(*projections.Reader)),
	namespaces.New,
	handlers.NewRatelimitLimit,
	handlers.NewRatelimitMultiLimit,
	handlers.NewSetRatelimitOverride,
	handlers.NewGetRatelimitOverride,
	handlers.NewListRatelimitOverrides,
	handlers.NewDeleteRatelimitOverride,
	wire.Bind(new(handlers.KeyReader), new(*projections.Reader)),
	keyring.New,
	wire.Bind(new(keycache.Reader), new(*projections.Reader)),
	keycache.New,
	wire.Bind(new(apicache.Reader), new(*projections.Reader)),
	apicache.New,
	handlers.NewCreateKey,
	handlers.NewGetKey,
	handlers.NewWhoami,
	handlers.NewDeleteKey,
	handlers.NewUpdateKey,
	handlers.NewUpdateCredits,
	handlers.NewCounters,
	reporting.New,
	wire.Bind(new(reporting.Counts), new(*handlers.Counters)),
	handlers.NewMigrations,
	handlers.NewVerifyKey,
	wire.Bind(new(credits.RefillReader), new(*projections.Reader)),
	credits.NewRefiller,
	handlers.NewKeyPermissions,
	handlers.NewKeyRoles,
	handlers.NewRerollKey,
	handlers.NewMigrateKeys,
	wire.Bind(new(handlers.IdentityReader), new(*projections.Reader)),
	handlers.NewCreateIdentity,
	handlers.NewGetIdentity,
	handlers.NewListIdentities,
	handlers.NewUpdateIdentity,
	handlers.NewDeleteIdentity,
	wire.Bind(new(handlers.PermissionReader), new(*projections.Reader)),
	handlers.NewCreatePermission,
	handlers.NewGetPermission,
	handlers.NewListPermissions,
	handlers.NewDeletePermission,
	handlers.NewCreateRole,
	handlers.NewGetRole,
	handlers.NewListRoles,
	handlers.NewDeleteRole,
	handlers.NewSetRolePermissions,
	// ClickHouse when configured, else the local store's query tables.
	analytics.NewQuerier,
	wire.Bind(new(handlers.AnalyticsQuerier), new(*analytics.Querier)),
	handlers.NewGetVerifications,
	handlers.NewGetRatelimits,
	wire.Bind(new(handlers.PortalReader), new(*projections.Reader)),
	handlers.NewPortalSessions,
	handlers.NewCreatePortalSession,
	handlers.NewExchangePortalCode,
	handlers.NewPortalListKeys,
	handlers.NewPortalRerollKey,
	handlers.NewPortalGetVerifications,
	wire.Bind(new(handlers.APILister), new(*projections.Reader)),
	wire.Bind(new(handlers.NamespaceLister), new(*projections.Reader)),
	handlers.NewRootKeyWhoami,
	handlers.NewListAPIs,
	handlers.NewListRatelimitNamespaces,
	handlers.NewListPortals,
	handlers.NewCreatePortal,
	handlers.NewDeletePortal,
	// The audit log is ClickHouse's audit_log_v1; without clickhouse.url
	// the reader reports it is not configured.
	clickhouse.NewAuditReader,
	wire.Bind(new(handlers.AuditLogReader), new(*clickhouse.AuditReader)),
	handlers.NewListAuditLogs,
	wire.Struct(new(httpapi.Routes), "*"),
	openapi.NewValidator,
	wire.Bind(new(httpapi.BodyValidator), new(*openapi.Validator)),
	metrics.New,
	metrics.RequestObserver,
	wire.Bind(new(httpapi.RequestObserver), new(*metrics.HTTP)),
	health.New,
	wire.Bind(new(httpapi.Readiness), new(*health.Readiness)),
	httpapi.NewOptions,
	httpapi.NewRouter,
	httpserver.New,
	outbox.ForwarderFor,
	analytics.NewPipeline,
	wire.FieldsOf(new(*analytics.Pipeline), "Sink"),
	wire.Bind(new(reporting.Sink), new(*analytics.Sink)),
	runtime.NewServer,
)

// InitializeServer assembles the `keyline run` process.
func InitializeServer(ctx context.Context, cfg *configs.Config, logger *slog.Logger, out io.Writer) (*runtime.Server, func(), error) {
	wire.Build(apiSet)
	return nil, nil, nil
}

// InitializeAdmin assembles the one-shot administrative commands.
func InitializeAdmin(ctx context.Context, cfg *configs.Config, logger *slog.Logger) (*runtime.Admin, func(), error) {
	wire.Build(storeSet, analytics.AuditFor, handlers.NewSetWorkspaceEnabled, handlers.NewSetAPIIPAllowlist,
		handlers.NewRootKeyAdmin, runtime.NewAdmin)
	return nil, nil, nil
}

// InitializePortalAdmin assembles `keyline portals`.
func InitializePortalAdmin(ctx context.Context, cfg *configs.Config, logger *slog.Logger) (*runtime.PortalAdmin, func(), error) {
	wire.Build(storeSet, wire.Bind(new(handlers.APIReader), new(*projections.Reader)),
		wire.Bind(new(handlers.PortalReader), new(*projections.Reader)),
		handlers.NewCreatePortal, handlers.NewListPortals, handlers.NewDeletePortal, runtime.NewPortalAdmin)
	return nil, nil, nil
}
