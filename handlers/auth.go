package handlers

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/rbac"
	"github.com/keyline/keyline/projections"
)

// Principal is an authenticated root key: the workspace it acts in and the
// permissions it holds, in both of Unkey's grammars.
type Principal struct {
	WorkspaceID string
	RootKeyID   string
	permissions map[string]struct{}
	// grants are the held resource permissions (URNs), parsed once when the
	// principal is built so that a check never re-parses them.
	grants []rbac.Grant
	// workspaceDisabled: the workspace was switched off. Only verifyKey
	// accepts such a principal (see Authenticator.Resolve).
	workspaceDisabled bool
	// Portal is set for an end user's portal session (see PortalSessions)
	// and nil for a root key: the portal use cases accept only the former.
	Portal *PortalScope
}

// NewPrincipal builds a principal holding perms. Exposed for tests and for
// the CLI, which acts with full rights on the store it was pointed at.
func NewPrincipal(workspaceID, rootKeyID string, perms []string) *Principal {
	set := make(map[string]struct{}, len(perms))
	var grants []rbac.Grant
	for _, p := range perms {
		set[p] = struct{}{}
		if g, ok := rbac.Parse(p); ok {
			grants = append(grants, g)
		}
	}
	return &Principal{WorkspaceID: workspaceID, RootKeyID: rootKeyID, permissions: set, grants: grants}
}

// Has reports whether the principal holds perm. A legacy tuple matches by
// exact string equality ("*" inside a tuple is a literal, as in Unkey); a
// resource permission (see URN) is matched against the held URN grants with
// their wildcards.
func (p *Principal) Has(perm string) bool {
	if rbac.IsURN(perm) {
		for _, g := range p.grants {
			if g.Allows(perm) {
				return true
			}
		}
		return false
	}
	_, ok := p.permissions[perm]
	return ok
}

// URN is the resource permission on path/action in the principal's own
// workspace: the only workspace a grant may ever match.
func (p *Principal) URN(path, action string) string {
	return rbac.URN(p.WorkspaceID, path, action)
}

// RequireAny succeeds when the principal holds at least one of perms, and
// otherwise returns the 403 whose detail names what is missing.
func (p *Principal) RequireAny(perms ...string) error {
	for _, perm := range perms {
		if p.Has(perm) {
			return nil
		}
	}
	return missing(perms)
}

func missing(perms []string) *Error {
	if len(perms) == 1 {
		return Fail(CodeInsufficientPerms, "Missing permission: '"+perms[0]+"'")
	}
	return Fail(CodeInsufficientPerms, "Missing one of these permissions: "+strings.Join(perms, " or "))
}

// RootKeyFinder is the read model the authenticator consults on a cache miss.
type RootKeyFinder interface {
	RootKeyByHash(ctx context.Context, hash string) (projections.RootKeyRow, error)
	Workspace(ctx context.Context, id string) (projections.WorkspaceRow, error)
}

// Authenticator resolves the Authorization header of a management request to
// a Principal. Known root keys are cached by hash so the hot path does no
// database round trip; the cache is dropped whenever the log shows a change
// to root keys or workspaces. Unknown keys are not cached: a root key minted
// by `keyline bootstrap` in another process must work on the next request.
type Authenticator struct {
	finder RootKeyFinder
	// cache maps key hash to principal. A plain map under a lock, not a
	// sync.Map: its string lookup with a hash in a stack buffer allocates
	// nothing, where sync.Map needs the key as an interface value.
	mu    sync.RWMutex
	cache map[string]*Principal
	// gen counts invalidations, so that a principal read before a change
	// but stored after it is taken out again instead of outliving it.
	gen atomic.Uint64
}

// NewAuthenticator builds an authenticator over finder.
func NewAuthenticator(finder RootKeyFinder) *Authenticator {
	return &Authenticator{finder: finder, cache: map[string]*Principal{}}
}

const malformedAuthDetail = "You must provide a valid root key in the Authorization header in the format 'Bearer ROOT_KEY'. Your authorization header is missing the 'Bearer ' prefix."

const workspaceDisabledDetail = "The workspace is disabled."

const unknownRootKeyDetail = "The provided root key is invalid. We could not find the requested key."

// Authenticate checks header ("Bearer <rootKey>"). A root key of a disabled
// workspace is refused with 403 workspace_disabled.
func (a *Authenticator) Authenticate(ctx context.Context, header string) (*Principal, error) {
	p, err := a.Resolve(ctx, header)
	if err != nil {
		return nil, err
	}
	if p.workspaceDisabled {
		return nil, Fail(CodeWorkspaceDisabled, workspaceDisabledDetail)
	}
	return p, nil
}

// Resolve is Authenticate without the workspace switch, for keys.verifyKey
// alone. keyline's root keys live in the workspace whose keys they verify,
// so refusing them there would make the reference's "workspace disabled → FORBIDDEN"
// unreachable and turn a clear denial into an HTTP error that SDK callers
// may treat as an outage (and fail open on). verifyKey instead answers
// every key of the disabled workspace with 200 FORBIDDEN.
func (a *Authenticator) Resolve(ctx context.Context, header string) (*Principal, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return nil, &Error{Code: CodeInvalidInput, Detail: "Authorization header for 'bearer' scheme",
			Fields: []FieldError{{Location: "/security/bearer", Message: "missing Authorization header", Fix: "Send 'Authorization: Bearer <rootKey>'"}}}
	}
	if !strings.HasPrefix(header, "Bearer ") {
		return nil, Fail(CodeAuthMalformed, malformedAuthDetail)
	}
	token := strings.TrimSpace(strings.TrimPrefix(header, "Bearer "))
	if token == "" {
		return nil, Fail(CodeAuthMalformed, malformedAuthDetail)
	}
	var buf [events.KeyHashLen]byte
	hashed := events.AppendKeyHash(buf[:0], token)
	a.mu.RLock()
	p, ok := a.cache[string(hashed)]
	a.mu.RUnlock()
	if ok {
		return p, nil
	}
	hash := string(hashed)
	gen := a.gen.Load()
	row, err := a.finder.RootKeyByHash(ctx, hash)
	if errors.Is(err, events.ErrNotFound) || (err == nil && row.Revoked()) {
		// A revoked key gets the very answer an unknown one does: telling
		// them apart would only help whoever holds a leaked key.
		return nil, Fail(CodeKeyNotFound, unknownRootKeyDetail)
	}
	if err != nil {
		return nil, Internal("looking up root key", err)
	}
	ws, err := a.finder.Workspace(ctx, row.WorkspaceID)
	if errors.Is(err, events.ErrNotFound) {
		return nil, Fail(CodeWorkspaceNotFound, "The provided root key is invalid. The requested workspace does not exist.")
	} else if err != nil {
		return nil, Internal("looking up root key workspace", err)
	}
	p = NewPrincipal(row.WorkspaceID, row.ID, row.Permissions)
	p.workspaceDisabled = !ws.Enabled()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen.Load() == gen {
		// Observe bumps gen under this lock, and has not run since the
		// reads above: what was read is current, so keep it.
		a.cache[hash] = p
	}
	return p, nil
}

// Observe drops cached principals when the log shows a change that could
// alter one (root_key.revoked among them: the next request of a revoked key
// reads the read model again and is refused). Root-key and workspace changes
// are rare, so clearing everything is cheaper than indexing.
func (a *Authenticator) Observe(rec events.Recorded) {
	if strings.HasPrefix(rec.Name, "root_key.") || strings.HasPrefix(rec.Name, "workspace.") {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.gen.Add(1)
		clear(a.cache)
	}
}
