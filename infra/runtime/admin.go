package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/handlers/services/credits"
	"github.com/keyline/keyline/infra/analytics"
	"github.com/keyline/keyline/infra/clickhouse"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/projections"
)

// Admin backs the one-shot commands that act on a store, possibly while a
// server runs on it: `keyline bootstrap`, `keyline replay`, `keyline
// migrate`, `keyline workspace`, `keyline apis` and `keyline rootkeys`.
type Admin struct {
	Store     *sqlstore.Store
	Runner    *projections.Runner
	Bootstrap *handlers.Bootstrap
	Workspace *handlers.SetWorkspaceEnabled
	IPs       *handlers.SetAPIIPAllowlist
	RootKeys  *handlers.RootKeyAdmin
	Credits   *credits.Folder
	// ClickHouse and Audit are nil unless clickhouse.url is configured.
	ClickHouse *clickhouse.DB
	Audit      *analytics.Audit
}

// NewAdmin is the provider wire calls.
func NewAdmin(store *sqlstore.Store, runner *projections.Runner, boot *handlers.Bootstrap, ws *handlers.SetWorkspaceEnabled,
	ips *handlers.SetAPIIPAllowlist, rootKeys *handlers.RootKeyAdmin, folder *credits.Folder, ch *clickhouse.DB, audit *analytics.Audit) *Admin {
	return &Admin{Store: store, Runner: runner, Bootstrap: boot, Workspace: ws, IPs: ips, RootKeys: rootKeys, Credits: folder,
		ClickHouse: ch, Audit: audit}
}

// ErrNoClickHouse is returned for the audit projection without clickhouse.url.
var ErrNoClickHouse = errors.New("the audit projection lives in ClickHouse: set clickhouse.url")

// BootstrapRootKey is `keyline bootstrap`: MintRootKey after checking perms
// against the permission grammar, before anything is created.
func (a *Admin) BootstrapRootKey(ctx context.Context, workspace string, perms []string) (handlers.MintedRootKey, error) {
	if err := handlers.CheckRootPermissions(events.WorkspaceIDForName(workspace), perms); err != nil {
		return handlers.MintedRootKey{}, err
	}
	return a.MintRootKey(ctx, workspace, perms)
}

// MintRootKey creates (or reuses) the workspace called name and a new root
// key in it holding perms unchecked (see handlers.Bootstrap.MintRootKey).
func (a *Admin) MintRootKey(ctx context.Context, workspace string, perms []string) (handlers.MintedRootKey, error) {
	if err := a.Runner.Setup(ctx, a.Store); err != nil {
		return handlers.MintedRootKey{}, err
	}
	wsID, err := a.Bootstrap.EnsureWorkspace(ctx, workspace)
	if err != nil {
		return handlers.MintedRootKey{}, err
	}
	return a.Bootstrap.MintRootKey(ctx, wsID, perms)
}

// SetWorkspaceEnabled disables or enables the workspace called name. The
// read models are brought up to date first, because the append applies the
// projections inline and they must exist at the code's version.
func (a *Admin) SetWorkspaceEnabled(ctx context.Context, name string, enabled bool) (handlers.SetWorkspaceEnabledResult, error) {
	if err := a.Runner.Setup(ctx, a.Store); err != nil {
		return handlers.SetWorkspaceEnabledResult{}, err
	}
	return a.Workspace.Handle(ctx, nil, handlers.SetWorkspaceEnabledInput{Name: name, Enabled: enabled})
}

// SetAPIIPAllowlist replaces apiID's IP allow-list (empty: no restriction).
func (a *Admin) SetAPIIPAllowlist(ctx context.Context, apiID string, ips []string) (handlers.SetAPIIPAllowlistResult, error) {
	if err := a.Runner.Setup(ctx, a.Store); err != nil {
		return handlers.SetAPIIPAllowlistResult{}, err
	}
	return a.IPs.Handle(ctx, nil, handlers.SetAPIIPAllowlistInput{APIID: apiID, IPs: ips})
}

// ListRootKeys lists the root keys of the workspace called workspace.
func (a *Admin) ListRootKeys(ctx context.Context, workspace string) ([]handlers.RootKeyInfo, error) {
	if err := a.Runner.Setup(ctx, a.Store); err != nil {
		return nil, err
	}
	return a.RootKeys.List(ctx, workspace)
}

// CreateRootKey mints a root key in the existing workspace called workspace.
func (a *Admin) CreateRootKey(ctx context.Context, workspace, name string, perms []string) (handlers.MintedRootKey, error) {
	if err := a.Runner.Setup(ctx, a.Store); err != nil {
		return handlers.MintedRootKey{}, err
	}
	return a.RootKeys.Create(ctx, workspace, name, perms)
}

// RevokeRootKey revokes root key id of the workspace called workspace.
// Running servers refuse it within projections.pollIntervalMs.
func (a *Admin) RevokeRootKey(ctx context.Context, workspace, id string) (handlers.RevokedRootKey, error) {
	if err := a.Runner.Setup(ctx, a.Store); err != nil {
		return handlers.RevokedRootKey{}, err
	}
	return a.RootKeys.Revoke(ctx, workspace, id)
}

// Replay rebuilds the named projections (all when names is empty) from the
// log and returns how many events it replayed. "audit" names the ClickHouse
// audit log; "all" includes it when ClickHouse is configured.
func (a *Admin) Replay(ctx context.Context, names []string, progress projections.Progress) (int64, error) {
	audit := len(names) == 0 && a.Audit != nil
	if i := slices.Index(names, analytics.AuditProjection); i >= 0 {
		if a.Audit == nil {
			return 0, ErrNoClickHouse
		}
		audit = true
		names = slices.Delete(slices.Clone(names), i, i+1)
		if len(names) == 0 {
			return a.Audit.Rebuild(ctx, progress)
		}
	}
	if err := a.Runner.Setup(ctx, a.Store); err != nil {
		return 0, err
	}
	if len(names) == 0 || slices.Contains(names, projections.KeyCredits{}.Name()) {
		// Spends still in the journal are in the live balances but not yet
		// in the log: fold them first, or the rebuilt balances would hand
		// them back.
		if _, err := a.Credits.FoldAll(ctx, credits.TakeOverClaims); err != nil {
			return 0, fmt.Errorf("folding the credit spend journal before the replay: %w", err)
		}
	}
	n, err := a.Runner.Rebuild(ctx, a.Store, names, progress)
	if err != nil || !audit {
		return n, err
	}
	m, err := a.Audit.Rebuild(ctx, progress)
	return n + m, err
}
