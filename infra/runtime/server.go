package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/handlers/services/apicache"
	"github.com/keyline/keyline/handlers/services/credits"
	"github.com/keyline/keyline/handlers/services/keycache"
	"github.com/keyline/keyline/handlers/services/namespaces"
	"github.com/keyline/keyline/infra/analytics"
	"github.com/keyline/keyline/infra/cluster"
	"github.com/keyline/keyline/infra/heartbeat"
	"github.com/keyline/keyline/infra/httpserver"
	"github.com/keyline/keyline/infra/metrics"
	"github.com/keyline/keyline/infra/outbox"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/telemetry"
	"github.com/keyline/keyline/projections"
)

// Server is the `keyline run` process.
type Server struct {
	Config    *configs.Config
	Logger    *slog.Logger
	Store     *sqlstore.Store
	Runner    *projections.Runner
	Tailer    *sqlstore.Tailer
	Bootstrap *handlers.Bootstrap
	Auth      *handlers.Authenticator
	// Ratelimits caches namespaces and overrides for the limit hot path.
	Ratelimits *namespaces.Catalog
	Keys       *keycache.Cache
	// APIs caches live APIs for keys.createKey.
	APIs *apicache.Cache
	// Credits folds the credit spend journal into the log.
	Credits   *credits.Folder
	Refiller  *credits.Refiller
	HTTP      *httpserver.Server
	Forwarder *outbox.Forwarder // nil unless Postgres + Redis
	Analytics *analytics.Pipeline
	Cluster   *cluster.Cluster   // nil unless cluster is configured
	Heartbeat *heartbeat.Monitor // nil unless heartbeat is configured
	Metrics   *metrics.Server    // nil unless metrics is configured

	// Out receives the one-time root key banner; stdout in production.
	Out io.Writer
}

// NewServer is the provider wire calls; every field is required except
// Forwarder, Cluster, Heartbeat and Metrics.
func NewServer(cfg *configs.Config, logger *slog.Logger, store *sqlstore.Store, runner *projections.Runner,
	tailer *sqlstore.Tailer, boot *handlers.Bootstrap, auth *handlers.Authenticator,
	ratelimits *namespaces.Catalog, keys *keycache.Cache, apis *apicache.Cache, folder *credits.Folder,
	refiller *credits.Refiller, http *httpserver.Server, fwd *outbox.Forwarder, an *analytics.Pipeline,
	cl *cluster.Cluster, hb *heartbeat.Monitor, m *metrics.Server, out io.Writer) *Server {
	if t := telemetry.Tracer(cfg, "github.com/keyline/keyline/infra/sqlstore"); t != nil {
		store.Trace(t)
	}
	return &Server{Config: cfg, Logger: logger, Store: store, Runner: runner, Tailer: tailer, Bootstrap: boot,
		Auth: auth, Ratelimits: ratelimits, Keys: keys, APIs: apis, Credits: folder, Refiller: refiller, HTTP: http,
		Forwarder: fwd, Analytics: an, Cluster: cl, Heartbeat: hb, Metrics: m, Out: out}
}

// caches lists the node-local state that follows the log. Every field of
// Server that is a sqlstore.Follower must be here (TestEveryCacheFollowsTheLog).
func (s *Server) caches() []sqlstore.Follower {
	return []sqlstore.Follower{s.Auth, s.Ratelimits, s.Keys, s.APIs}
}

// Shutdown timings. Leaving is a gossip broadcast that normally takes
// milliseconds; the drains bound how long in-flight requests may take.
const (
	leaveTimeout = 2 * time.Second
	rpcDrain     = 10 * time.Second
)

// Prepare brings the read models up to date with the log and creates the
// first root key on an empty store. It runs before the port answers.
func (s *Server) Prepare(ctx context.Context) error {
	if err := s.Runner.Setup(ctx, s.Store); err != nil {
		return fmt.Errorf("preparing read models: %w", err)
	}
	if s.Config.Bootstrap != nil && s.Config.Bootstrap.RootKey != "" {
		got, err := s.Bootstrap.EnsureConfiguredRootKey(ctx, s.Config.Bootstrap.RootKey)
		if err != nil {
			return fmt.Errorf("ensuring configured root key: %w", err)
		}
		s.Logger.Info("configured root key is in place", "rootKeyId", got.RootKeyID)
		for _, id := range got.Revoked {
			s.Logger.Warn("revoked the root key an earlier bootstrap.rootKey configured", "rootKeyId", id)
		}
		return nil
	}
	minted, ok, err := s.Bootstrap.FirstStart(ctx)
	if err != nil {
		return fmt.Errorf("first-start bootstrap: %w", err)
	}
	if ok && s.Config.Logs.JSON() {
		// One JSON record like every other line, printed whatever logs.level
		// says: the key is shown only this once.
		slog.New(slog.NewJSONHandler(s.Out, nil)).Warn("keyline created the default workspace and its first root key; "+
			"it holds every permission and is shown only this once; use it as: Authorization: Bearer <root key>",
			"workspace", "default", "workspaceId", minted.WorkspaceID, "rootKey", minted.RootKey)
	} else if ok {
		fmt.Fprintf(s.Out, "\n"+
			"  keyline created workspace %q (%s) and its first root key.\n"+
			"  It holds every permission and is shown only this once:\n\n"+
			"      %s\n\n"+
			"  Use it as: Authorization: Bearer <root key>\n\n", "default", minted.WorkspaceID, minted.RootKey)
	}
	return nil
}

// logAdvancedNotice is the gossip hint "the event log has new events".
var logAdvancedNotice = []byte(`{"v":1,"kind":"log.advanced"}`)

// Run serves until ctx ends, then shuts down in this order: leave the
// cluster (peers stop forwarding here at once instead of after a failure
// timeout), stop accepting and drain the public port, drain the cluster RPC
// port (decisions peers forwarded before they saw us leave), stop gossip,
// and finally stop the background components, which flush what they hold.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Prepare(ctx); err != nil {
		return err
	}
	s.Tailer.Follow(s.caches()...)
	if s.Cluster != nil {
		// Other members learn of a commit by gossip at once instead of at
		// their next poll; each then reads the log itself, so the hint
		// carries no data and a lost or repeated one is harmless.
		s.Store.OnCommit(func(recs []events.Recorded) {
			_ = s.Cluster.Broadcast(logAdvancedNotice)
		})
		s.Cluster.OnMessage(func(msg []byte) {
			if bytes.Equal(msg, logAdvancedNotice) {
				s.Tailer.Poke()
			}
		})
	}
	if err := s.Tailer.Start(ctx); err != nil {
		return fmt.Errorf("starting the event tailer: %w", err)
	}
	bg, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	type component struct {
		name string
		run  func(context.Context) error
	}
	background := []component{{"event tailer", s.Tailer.Run}, {"credit folder", s.Credits.Run}, {"credit refill", s.Refiller.Run}}
	if s.Forwarder != nil {
		background = append(background, component{"outbox forwarder", s.Forwarder.Run})
	}
	if a := s.Analytics; a != nil {
		// The sink drains its buffer after ctx ends, before cleanup closes
		// its publisher: wg.Wait below orders the two.
		background = append(background, component{"analytics sink", a.Sink.Run})
		if a.Projector != nil {
			background = append(background, component{"analytics projector", a.Projector.Run})
		}
		if a.LocalProjector != nil {
			background = append(background, component{"analytics projector (local store)", a.LocalProjector.Run})
		}
		if a.Audit != nil {
			background = append(background, component{"audit projector", a.Audit.Run})
		}
		if a.LocalQuery != nil {
			background = append(background, component{"local analytics query projector", a.LocalQuery.Run})
		}
	}
	if s.Heartbeat != nil {
		background = append(background, component{"heartbeat", s.Heartbeat.Run})
	}
	if s.Metrics != nil {
		background = append(background, component{"metrics listener", s.Metrics.Run})
	}
	for _, b := range background {
		wg.Add(1)
		go func() {
			defer wg.Done()
			supervise(bg, s.Logger, b.name, b.run)
		}()
	}
	// The cluster is not supervised: its only error is "this node must not
	// run" (e.g. a duplicate node ID), which stops the process.
	fatal := make(chan error, 1)
	clusterCtx, stopCluster := context.WithCancel(bg)
	defer stopCluster()
	clusterDone := make(chan struct{})
	if s.Cluster != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(clusterDone)
			if err := s.Cluster.Run(clusterCtx); err != nil {
				fatal <- err
			}
		}()
	} else {
		close(clusterDone)
	}
	httpCtx, stopHTTP := context.WithCancel(context.Background())
	defer stopHTTP()
	stopped := make(chan error, 1) // why serving stopped, if the cluster said so
	go func() {
		var why error
		defer func() { stopped <- why }()
		select {
		case <-ctx.Done():
		case why = <-fatal:
			s.Logger.Error("cluster stopped this node", "error", why)
		case <-httpCtx.Done():
			return
		}
		s.Cluster.Leave(leaveTimeout)
		stopHTTP()
	}()
	s.Logger.Info("keyline is serving", "addr", s.HTTP.Addr().String(), "tls", s.HTTP.TLS(), "region", s.Config.Region,
		"platform", s.Config.Platform, "image", s.Config.Image)
	err := s.HTTP.Serve(httpCtx)
	stopHTTP()
	fatalErr := <-stopped
	// The cluster's loops end first (its record sink sends what it still
	// holds), then its connections close: closing the Redis publisher
	// while the sink could still publish was a data race.
	stopCluster()
	<-clusterDone
	s.Cluster.Shutdown(rpcDrain)
	cancel()
	wg.Wait()
	if err == nil {
		err = fatalErr
	}
	return err
}

// supervise keeps a background component running: it restarts it with
// back-off after a failure, because a relay that died silently would stall
// cross-node delivery without anyone noticing.
func supervise(ctx context.Context, logger *slog.Logger, name string, run func(context.Context) error) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		logger.Warn("background component failed; restarting", "component", name, "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
