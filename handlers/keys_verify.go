package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/permquery"
	"github.com/keyline/keyline/handlers/services/keycache"
	"github.com/keyline/keyline/handlers/services/reporting"
)

// Verification codes, as Unkey names them.
const (
	CodeValid                   = "VALID"
	CodeNotFound                = "NOT_FOUND"
	CodeForbiddenKey            = "FORBIDDEN"
	CodeInsufficientPermissions = "INSUFFICIENT_PERMISSIONS"
	CodeUsageExceeded           = "USAGE_EXCEEDED"
	CodeRateLimited             = "RATE_LIMITED"
	CodeDisabled                = "DISABLED"
	CodeExpired                 = "EXPIRED"
)

// VerifyKeyInput is the body of keys.verifyKey.
type VerifyKeyInput struct {
	Key         string
	Permissions string
	Cost        *int64
	MigrationID string
	Tags        []string
	Ratelimits  []VerifyRatelimitInput
	// ClientIP returns the address of the client the request is made
	// for, as the HTTP layer determines it (X-Forwarded-For first, then the
	// peer), checked against the API's IP allow-list. It is called only for
	// a key whose API has one, so other verifications do not pay for it;
	// nil stands for an address nobody could make out.
	ClientIP func() string
}

// VerifyKeyResult is Unkey's V2KeysVerifyKeyResponseData; everything but valid
// and code is omitted when empty.
type VerifyKeyResult struct {
	Valid       bool                  `json:"valid"`
	Code        string                `json:"code"`
	KeyID       string                `json:"keyId,omitempty"`
	Name        string                `json:"name,omitempty"`
	Meta        json.RawMessage       `json:"meta,omitempty"`
	Expires     *int64                `json:"expires,omitempty"`
	Credits     *int64                `json:"credits,omitempty"`
	Enabled     *bool                 `json:"enabled,omitempty"`
	Permissions []string              `json:"permissions,omitempty"`
	Roles       []string              `json:"roles,omitempty"`
	Identity    *IdentityData         `json:"identity,omitempty"`
	Ratelimits  []VerifyRatelimitData `json:"ratelimits,omitempty"`
}

// VerifyKey answers keys.verifyKey. Every outcome is a 200 with a code;
// only the root key, the request body and the permissions query can fail.
type VerifyKey struct {
	Log    EventLog
	Reader KeyReader
	Cache  *keycache.Cache
	// Limiter decides the key's and identity's rate limits: the same limiter
	// ratelimit.limit uses, so a cluster sharing Redis counts them exactly.
	Limiter Ratelimiter
	// Report receives one analytics record per verification that reaches
	// the checks.
	Report *reporting.Reporter
	// Migrations are the migrationIds a key not found by its hash may be
	// looked up under.
	Migrations *Migrations
	now        func() time.Time
}

// NewVerifyKey builds the use case.
func NewVerifyKey(log EventLog, r KeyReader, cache *keycache.Cache, limiter Ratelimiter, report *reporting.Reporter,
	migrations *Migrations) *VerifyKey {
	return &VerifyKey{Log: log, Reader: r, Cache: cache, Limiter: limiter, Report: report,
		Migrations: migrations, now: time.Now}
}

var notFound = VerifyKeyResult{Code: CodeNotFound}

// Handle runs Unkey's checks in Unkey's order; the first failure wins.
func (h *VerifyKey) Handle(ctx context.Context, p *Principal, in VerifyKeyInput) (VerifyKeyResult, error) {
	res, err := h.handle(ctx, p, in)
	if err == nil {
		h.Report.Answered(res.Code)
	}
	return res, err
}

func (h *VerifyKey) handle(ctx context.Context, p *Principal, in VerifyKeyInput) (VerifyKeyResult, error) {
	started := time.Now()
	var query permquery.Query
	if in.Permissions != "" {
		q, err := permquery.Parse(in.Permissions)
		if err != nil {
			return VerifyKeyResult{}, Fail(CodePermissionsQuery, err.Error())
		}
		query = q
	}
	e, err := h.Cache.GetKey(ctx, in.Key)
	if err != nil {
		return VerifyKeyResult{}, Internal("loading key for verification", err)
	}
	if !e.Found && in.MigrationID != "" {
		if e, err = h.migrate(ctx, p, in.Key, in.MigrationID); err != nil {
			return VerifyKeyResult{}, err
		}
	}
	if !e.Found {
		return notFound, nil
	}
	code := CodeValid
	switch {
	case e.WorkspaceDisabled:
		code = CodeForbiddenKey
	case !e.APILive:
		code = CodeNotFound
	case !e.Enabled:
		code = CodeDisabled
	case e.Expires != nil && h.now().UnixMilli() > *e.Expires:
		code = CodeExpired
	}
	// A key outside the caller's reach looks exactly like a missing one,
	// whatever the checks above found.
	if e.WorkspaceID != p.WorkspaceID || !e.APILive || !mayVerify(p, e) {
		return notFound, nil
	}
	enabled := e.Enabled
	res := VerifyKeyResult{KeyID: e.KeyID, Name: e.Name, Meta: e.Meta, Expires: e.Expires, Enabled: &enabled,
		Permissions: e.Permissions, Roles: e.Roles, Identity: verifiedIdentity(e.Identity)}
	// The allow-list comes before everything that counts or spends, so a
	// request from elsewhere costs neither credits nor rate-limit tokens.
	if code == CodeValid && e.AllowedIPs != nil && !ipAllowed(e.AllowedIPs, in.clientIP()) {
		code = CodeForbiddenKey
	}
	if code == CodeValid && query != nil && !query.Allows(func(s string) bool { _, ok := e.PermSet[s]; return ok }) {
		code = CodeInsufficientPermissions
	}
	if code == CodeValid {
		externalID, identityID := "", ""
		var identityRatelimits []events.Ratelimit
		if e.Identity != nil {
			identityID, externalID, identityRatelimits = e.Identity.ID, e.Identity.ExternalID, e.Identity.Ratelimits
		}
		plan, err := planRatelimits(e.KeyID, e.Ratelimits, identityID, externalID, identityRatelimits, in.Ratelimits)
		if err != nil {
			return VerifyKeyResult{}, err
		}
		limits, passed := checkRatelimits(ctx, h.Limiter, h.now(), plan)
		res.Ratelimits = limits
		if !passed {
			code = CodeRateLimited
		}
	}
	var spent int64
	if e.Limited {
		if code == CodeValid {
			cost := int64(1)
			if in.Cost != nil {
				cost = *in.Cost
			}
			// The spend and its journal row commit together: once this
			// answers VALID, a crash can lose neither (services/credits
			// folds the journal into the log).
			remaining, ok, err := h.Reader.SpendCredits(ctx, e.KeyID, e.WorkspaceID, cost)
			if err != nil {
				return VerifyKeyResult{}, Internal("spending credits", err)
			}
			if !ok {
				code = CodeUsageExceeded
			} else {
				spent = cost
			}
			res.Credits = &remaining
		} else {
			row, ok, err := h.Reader.Credits(ctx, e.KeyID)
			if err != nil {
				return VerifyKeyResult{}, Internal("reading credits", err)
			}
			if ok && row.Remaining != nil {
				res.Credits = row.Remaining
			}
		}
	}
	res.Code, res.Valid = code, code == CodeValid
	v := events.KeyVerified{KeySpaceID: e.KeySpaceID, KeyID: e.KeyID, Outcome: code, Tags: in.Tags, SpentCredits: spent}
	if e.Identity != nil {
		v.IdentityID, v.ExternalID = e.Identity.ID, e.Identity.ExternalID
	}
	h.Report.Verified(RequestID(ctx), started, e.WorkspaceID, v)
	return res, nil
}

// verifiedIdentity renders the cached identity of a verified key. The two
// types share their fields (a conversion, not a copy, on the hot path); the
// compiler refuses this line if they ever drift apart.
func verifiedIdentity(i *keycache.Identity) *IdentityData {
	return (*IdentityData)(i)
}

// verifyAnyKey is the widest of the grants keyPerms lists for verify_key.
const verifyAnyKey = "api.*.verify_key"

// mayVerify reports whether p may verify e's key. The grant most root keys
// hold is checked first, so that the usual verification spells out no
// permission names (building them was 5 % of the handler's CPU).
func mayVerify(p *Principal, e *keycache.Entry) bool {
	return p.Has(verifyAnyKey) || p.RequireAny(keyPerms(p, e.APIID, e.KeySpaceID, e.KeyID, "verify_key")...) == nil
}

func (in VerifyKeyInput) clientIP() string {
	if in.ClientIP == nil {
		return ""
	}
	return in.ClientIP()
}

// ipAllowed reports whether clientIP is on the allow-list. Both sides are
// compared as addresses, not strings, so any spelling of one address
// matches; an address the HTTP layer could not make out never does.
func ipAllowed(allowed []netip.Addr, clientIP string) bool {
	addr, err := netip.ParseAddr(clientIP)
	if err != nil {
		return false
	}
	return slices.Contains(allowed, addr.Unmap().WithZone(""))
}

// migrate finds a key imported by keys.migrateKeys from its plaintext and
// rehashes it, Unkey's "prefixed-api-key" scheme: the key is
// prefix_short_long (the prefix may contain "_", so it is split from the
// right) and the imported hash is hex(sha256(long)). An unknown migrationId
// finds nothing, and so does a "sha256" migration, which Unkey accepts
// but never matches.
func (h *VerifyKey) migrate(ctx context.Context, p *Principal, key, migrationID string) (*keycache.Entry, error) {
	missing := &keycache.Entry{}
	if algorithm, ok := h.Migrations.Algorithm(migrationID); !ok || algorithm != configs.MigrationPrefixedAPIKey {
		return missing, nil
	}
	i := strings.LastIndex(key, "_")
	if i <= 0 {
		return missing, nil
	}
	rest, long := key[:i], key[i+1:]
	j := strings.LastIndex(rest, "_")
	if j <= 0 || long == "" {
		return missing, nil
	}
	prefix, short := rest[:j], rest[j+1:]
	sum := sha256.Sum256([]byte(long))
	row, err := h.Reader.KeyByHash(ctx, hex.EncodeToString(sum[:]))
	if errors.Is(err, events.ErrNotFound) || (err == nil && (row.PendingMigrationID != migrationID || row.WorkspaceID != p.WorkspaceID)) {
		return missing, nil
	}
	if err != nil {
		return nil, Internal("looking up migrated key", err)
	}
	body := short + "_" + long
	start := prefix + "_" + body[:min(4, len(body))]
	if _, err := appendToKey(ctx, h.Log, p, row.ID, func(k *events.Key) ([]events.Event, error) {
		return k.Migrate(migrationID, events.HashKey(key), start)
	}); err != nil {
		return nil, err
	}
	return h.Cache.GetKey(ctx, key)
}
