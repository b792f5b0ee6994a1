package httpapi

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/uptrace/bunrouter"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/handlers/httpapi/flatjson"
)

type creditsBody struct {
	Remaining *int64           `json:"remaining"`
	Refill    *handlers.Refill `json:"refill"`
}

type createKeyBody struct {
	APIID       string                    `json:"apiId"`
	Prefix      string                    `json:"prefix"`
	Name        string                    `json:"name"`
	ByteLength  int                       `json:"byteLength"`
	ExternalID  string                    `json:"externalId"`
	Meta        json.RawMessage           `json:"meta"`
	Roles       []string                  `json:"roles"`
	Permissions []string                  `json:"permissions"`
	Expires     *int64                    `json:"expires"`
	Credits     *creditsBody              `json:"credits"`
	Ratelimits  []handlers.RatelimitInput `json:"ratelimits"`
	Enabled     *bool                     `json:"enabled"`
	Recoverable bool                      `json:"recoverable"`
}

func (rt *Routes) createKey(ctx context.Context, p *handlers.Principal, in createKeyBody) (any, error) {
	c := handlers.CreateKeyInput{APIID: in.APIID, Prefix: in.Prefix, Name: in.Name, ByteLength: in.ByteLength,
		ExternalID: in.ExternalID, Meta: in.Meta, Roles: in.Roles, Permissions: in.Permissions, Expires: in.Expires,
		Ratelimits: in.Ratelimits, Enabled: in.Enabled, Recoverable: in.Recoverable}
	if in.Credits != nil {
		c.Credits = &handlers.CreditsInput{Remaining: in.Credits.Remaining, Refill: in.Credits.Refill}
	}
	return rt.CreateKey.Handle(ctx, p, c)
}

type keyIDBody struct {
	KeyID     string `json:"keyId"`
	Decrypt   bool   `json:"decrypt"`
	Permanent bool   `json:"permanent"`
}

func (rt *Routes) getKey(ctx context.Context, p *handlers.Principal, in keyIDBody) (any, error) {
	return rt.GetKey.Handle(ctx, p, handlers.GetKeyInput{KeyID: in.KeyID, Decrypt: in.Decrypt})
}

func (rt *Routes) whoami(ctx context.Context, p *handlers.Principal, in struct {
	Key string `json:"key"`
}) (any, error) {
	return rt.Whoami.Handle(ctx, p, handlers.WhoamiInput{Key: in.Key})
}

func (rt *Routes) deleteKey(ctx context.Context, p *handlers.Principal, in keyIDBody) (any, error) {
	_, err := rt.DeleteKey.Handle(ctx, p, handlers.DeleteKeyInput{KeyID: in.KeyID, Permanent: in.Permanent})
	return empty{}, err
}

// field reads one three-state member of an object: absent, null or a value.
func field[T any](m map[string]json.RawMessage, name string) (*events.Change[T], error) {
	raw, ok := m[name]
	if !ok {
		return nil, nil
	}
	if string(raw) == "null" {
		return &events.Change[T]{}, nil
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return &events.Change[T]{Value: &v}, nil
}

// updateKeyBody decodes keys.updateKey keeping apart absent, null and set
// members, which encoding/json alone would merge.
type updateKeyBody struct{ handlers.UpdateKeyInput }

func (b *updateKeyBody) UnmarshalJSON(raw []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	var plain struct {
		KeyID       string                     `json:"keyId"`
		Ratelimits  *[]handlers.RatelimitInput `json:"ratelimits"`
		Enabled     *bool                      `json:"enabled"`
		Roles       *[]string                  `json:"roles"`
		Permissions *[]string                  `json:"permissions"`
	}
	if err := json.Unmarshal(raw, &plain); err != nil {
		return err
	}
	u := handlers.UpdateKeyInput{KeyID: plain.KeyID, Ratelimits: plain.Ratelimits, Enabled: plain.Enabled,
		Roles: plain.Roles, Permissions: plain.Permissions}
	var err error
	if u.Name, err = field[string](m, "name"); err != nil {
		return err
	}
	if u.ExternalID, err = field[string](m, "externalId"); err != nil {
		return err
	}
	if u.Meta, err = field[json.RawMessage](m, "meta"); err != nil {
		return err
	}
	if u.Expires, err = field[int64](m, "expires"); err != nil {
		return err
	}
	credits, err := field[map[string]json.RawMessage](m, "credits")
	if err != nil {
		return err
	}
	if credits != nil {
		u.Credits = &events.Change[handlers.CreditsUpdate]{}
		if credits.Value != nil {
			var c handlers.CreditsUpdate
			if c.Remaining, err = field[int64](*credits.Value, "remaining"); err != nil {
				return err
			}
			if c.Refill, err = field[handlers.Refill](*credits.Value, "refill"); err != nil {
				return err
			}
			u.Credits.Value = &c
		}
	}
	b.UpdateKeyInput = u
	return nil
}

func (rt *Routes) updateKey(ctx context.Context, p *handlers.Principal, in updateKeyBody) (any, error) {
	_, err := rt.UpdateKey.Handle(ctx, p, in.UpdateKeyInput)
	return empty{}, err
}

func (rt *Routes) updateCredits(ctx context.Context, p *handlers.Principal, in struct {
	KeyID     string `json:"keyId"`
	Operation string `json:"operation"`
	Value     *int64 `json:"value"`
}) (any, error) {
	op, ok := handlers.ParseCreditOperation(in.Operation)
	if !ok {
		// The schema allows only the three; this guards a schema change.
		return nil, handlers.Fail(handlers.CodeInvalidInput, "operation must be one of set, increment, decrement")
	}
	return rt.UpdateCredits.Handle(ctx, p, handlers.UpdateCreditsInput{KeyID: in.KeyID, Operation: op, Value: in.Value})
}

type verifyKeyBody struct {
	Key         string   `json:"key"`
	Tags        []string `json:"tags"`
	Permissions string   `json:"permissions"`
	Credits     *struct {
		Cost int64 `json:"cost"`
	} `json:"credits"`
	MigrationID string                          `json:"migrationId"`
	Ratelimits  []handlers.VerifyRatelimitInput `json:"ratelimits"`
}

// decodeFlat reads the bodies clients send on every verification (key,
// tags, permissions, migrationId as plain strings) without reflection; see
// decode.
func (in *verifyKeyBody) decodeFlat(body []byte) bool {
	s := flatjson.New(body)
	return s.Object(func(name []byte) bool {
		var dst *string
		switch string(name) {
		case "key":
			dst = &in.Key
		case "permissions":
			dst = &in.Permissions
		case "migrationId":
			dst = &in.MigrationID
		case "tags":
			in.Tags = []string{} // as encoding/json: present means non-nil
			return s.StringArray(func(v []byte) bool {
				in.Tags = append(in.Tags, string(v))
				return true
			})
		default:
			return false
		}
		v, ok := s.PlainString()
		*dst = string(v)
		return ok
	})
}

func (rt *Routes) verifyKey(req bunrouter.Request, p *handlers.Principal, in verifyKeyBody) (any, error) {
	v := handlers.VerifyKeyInput{Key: in.Key, Tags: in.Tags, Permissions: in.Permissions, MigrationID: in.MigrationID,
		Ratelimits: in.Ratelimits, ClientIP: func() string { return clientIP(req.Request) }}
	if in.Credits != nil {
		v.Cost = &in.Credits.Cost
	}
	res, err := rt.VerifyKey.Handle(req.Context(), p, v)
	return (*verifyKeyResponse)(&res), err
}

// clientIP is the address IP allow-lists are checked against, as Unkey
// takes it: the first non-empty entry of X-Forwarded-For (keyline runs
// behind proxies), else the connection's peer, without a port either way.
// Whoever can reach keyline directly can therefore claim any address:
// allow-lists assume a proxy in front that sets the header.
func clientIP(r *http.Request) string {
	for entry := range strings.SplitSeq(r.Header.Get("X-Forwarded-For"), ",") {
		if entry = strings.TrimSpace(entry); entry != "" {
			return stripPort(entry)
		}
	}
	return stripPort(r.RemoteAddr)
}

// stripPort turns "1.2.3.4:5678" and "[2001:db8::1]:443" into the bare
// address and leaves "2001:db8::1" (colons, but no port) alone.
func stripPort(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().String()
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
}

type keyPermissionsBody struct {
	KeyID       string   `json:"keyId"`
	Permissions []string `json:"permissions"`
}

func (rt *Routes) keyPermissions(op handlers.AccessChange) func(context.Context, *handlers.Principal, keyPermissionsBody) (any, error) {
	return func(ctx context.Context, p *handlers.Principal, in keyPermissionsBody) (any, error) {
		return rt.KeyPermissions.Handle(ctx, p, handlers.KeyPermissionsInput{Change: op, KeyID: in.KeyID, Permissions: in.Permissions})
	}
}

type keyRolesBody struct {
	KeyID string   `json:"keyId"`
	Roles []string `json:"roles"`
}

func (rt *Routes) keyRoles(op handlers.AccessChange) func(context.Context, *handlers.Principal, keyRolesBody) (any, error) {
	return func(ctx context.Context, p *handlers.Principal, in keyRolesBody) (any, error) {
		return rt.KeyRoles.Handle(ctx, p, handlers.KeyRolesInput{Change: op, KeyID: in.KeyID, Roles: in.Roles})
	}
}

func (rt *Routes) rerollKey(ctx context.Context, p *handlers.Principal, in struct {
	KeyID      string `json:"keyId"`
	Expiration int64  `json:"expiration"`
}) (any, error) {
	return rt.RerollKey.Handle(ctx, p, handlers.RerollKeyInput{KeyID: in.KeyID, Expiration: in.Expiration})
}

func (rt *Routes) migrateKeys(ctx context.Context, p *handlers.Principal, in struct {
	MigrationID string                     `json:"migrationId"`
	APIID       string                     `json:"apiId"`
	Keys        []handlers.MigrateKeyInput `json:"keys"`
}) (any, error) {
	return rt.MigrateKeys.Handle(ctx, p, handlers.MigrateKeysInput{MigrationID: in.MigrationID, APIID: in.APIID, Keys: in.Keys})
}
