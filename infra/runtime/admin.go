package runtime

import (
	"context"

	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/projections"
)

// Admin backs the one-shot commands that act on a store, possibly while a
// server runs on it: `keyline bootstrap` and `keyline replay`.
type Admin struct {
	Store     *sqlstore.Store
	Runner    *projections.Runner
	Bootstrap *handlers.Bootstrap
}

// NewAdmin is the provider wire calls.
func NewAdmin(store *sqlstore.Store, runner *projections.Runner, boot *handlers.Bootstrap) *Admin {
	return &Admin{Store: store, Runner: runner, Bootstrap: boot}
}

// MintRootKey creates (or reuses) the workspace called name and a new root
// key in it.
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

// Replay rebuilds the named projections (all when names is empty) from the
// log and returns how many events it replayed.
func (a *Admin) Replay(ctx context.Context, names []string, progress projections.Progress) (int64, error) {
	if err := a.Runner.Setup(ctx, a.Store); err != nil {
		return 0, err
	}
	return a.Runner.Rebuild(ctx, a.Store, names, progress)
}
