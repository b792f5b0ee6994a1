package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/uptrace/bunrouter"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers"
)

type creditsBody struct {
	Remaining *int64         `json:"remaining"`
	Refill    *events.Refill `json:"refill"`
}

func (rt *Routes) createKey(w http.ResponseWriter, req bunrouter.Request) error {
	var in struct {
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
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	c := handlers.CreateKeyInput{APIID: in.APIID, Prefix: in.Prefix, Name: in.Name, ByteLength: in.ByteLength,
		ExternalID: in.ExternalID, Meta: in.Meta, Roles: in.Roles, Permissions: in.Permissions, Expires: in.Expires,
		Ratelimits: in.Ratelimits, Enabled: in.Enabled, Recoverable: in.Recoverable}
	if in.Credits != nil {
		c.Credits = &handlers.CreditsInput{Remaining: in.Credits.Remaining, Refill: in.Credits.Refill}
	}
	out, err := rt.CreateKey.Handle(req.Context(), p, c)
	if err != nil {
		return err
	}
	return writeData(w, req.Request, out)
}

func (rt *Routes) getKey(w http.ResponseWriter, req bunrouter.Request) error {
	var in struct {
		KeyID   string `json:"keyId"`
		Decrypt bool   `json:"decrypt"`
	}
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	out, err := rt.GetKey.Handle(req.Context(), p, in.KeyID, in.Decrypt)
	if err != nil {
		return err
	}
	return writeData(w, req.Request, out)
}

func (rt *Routes) whoami(w http.ResponseWriter, req bunrouter.Request) error {
	var in struct {
		Key string `json:"key"`
	}
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	out, err := rt.Whoami.Handle(req.Context(), p, in.Key)
	if err != nil {
		return err
	}
	return writeData(w, req.Request, out)
}

func (rt *Routes) deleteKey(w http.ResponseWriter, req bunrouter.Request) error {
	var in struct {
		KeyID     string `json:"keyId"`
		Permanent bool   `json:"permanent"`
	}
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	if err := rt.DeleteKey.Handle(req.Context(), p, in.KeyID, in.Permanent); err != nil {
		return err
	}
	return writeData(w, req.Request, empty{})
}

// field reads one three-state member of an object: absent, null or a value.
func field[T any](m map[string]json.RawMessage, name string) (handlers.Field[T], error) {
	raw, ok := m[name]
	if !ok {
		return handlers.Field[T]{}, nil
	}
	if string(raw) == "null" {
		return handlers.Field[T]{Set: true}, nil
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return handlers.Field[T]{}, &handlers.Error{Code: handlers.CodeInvalidInput, Detail: "The request body does not match the expected shape.", Err: err}
	}
	return handlers.Field[T]{Set: true, Value: &v}, nil
}

func (rt *Routes) updateKey(w http.ResponseWriter, req bunrouter.Request) error {
	var m map[string]json.RawMessage
	if err := decode(req, &m); err != nil {
		return err
	}
	var in struct {
		KeyID       string                     `json:"keyId"`
		Ratelimits  *[]handlers.RatelimitInput `json:"ratelimits"`
		Enabled     *bool                      `json:"enabled"`
		Roles       *[]string                  `json:"roles"`
		Permissions *[]string                  `json:"permissions"`
	}
	if err := decode(req, &in); err != nil {
		return err
	}
	u := handlers.UpdateKeyInput{KeyID: in.KeyID, Ratelimits: in.Ratelimits, Enabled: in.Enabled, Roles: in.Roles, Permissions: in.Permissions}
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
	if credits.Set {
		u.Credits.Set = true
		if credits.Value != nil {
			var c handlers.CreditsUpdate
			if c.Remaining, err = field[int64](*credits.Value, "remaining"); err != nil {
				return err
			}
			if c.Refill, err = field[events.Refill](*credits.Value, "refill"); err != nil {
				return err
			}
			u.Credits.Value = &c
		}
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	if err := rt.UpdateKey.Handle(req.Context(), p, u); err != nil {
		return err
	}
	return writeData(w, req.Request, empty{})
}

func (rt *Routes) updateCredits(w http.ResponseWriter, req bunrouter.Request) error {
	var in struct {
		KeyID     string `json:"keyId"`
		Operation string `json:"operation"`
		Value     *int64 `json:"value"`
	}
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	out, err := rt.UpdateCredits.Handle(req.Context(), p, in.KeyID, in.Operation, in.Value)
	if err != nil {
		return err
	}
	return writeData(w, req.Request, out)
}

func (rt *Routes) verifyKey(w http.ResponseWriter, req bunrouter.Request) error {
	var in struct {
		Key         string   `json:"key"`
		Tags        []string `json:"tags"`
		Permissions string   `json:"permissions"`
		Credits     *struct {
			Cost int64 `json:"cost"`
		} `json:"credits"`
		MigrationID string `json:"migrationId"`
	}
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	v := handlers.VerifyKeyInput{Key: in.Key, Tags: in.Tags, Permissions: in.Permissions, MigrationID: in.MigrationID}
	if in.Credits != nil {
		v.Cost = &in.Credits.Cost
	}
	out, err := rt.VerifyKey.Handle(req.Context(), p, v)
	if err != nil {
		return err
	}
	return writeData(w, req.Request, out)
}

// keyAccess serves the six add/remove/set routes for permissions and roles.
func (rt *Routes) keyAccess(op, list string) bunrouter.HandlerFunc {
	return func(w http.ResponseWriter, req bunrouter.Request) error {
		var in map[string]json.RawMessage
		if err := decode(req, &in); err != nil {
			return err
		}
		var keyID string
		var refs []string
		if err := json.Unmarshal(in["keyId"], &keyID); err != nil {
			return &handlers.Error{Code: handlers.CodeInvalidInput, Detail: "The request body does not match the expected shape.", Err: err}
		}
		if err := json.Unmarshal(in[list], &refs); err != nil {
			return &handlers.Error{Code: handlers.CodeInvalidInput, Detail: "The request body does not match the expected shape.", Err: err}
		}
		p, err := rt.principal(req)
		if err != nil {
			return err
		}
		var out any
		if list == "permissions" {
			out, err = rt.KeyPermissions.Handle(req.Context(), p, op, keyID, refs)
		} else {
			out, err = rt.KeyRoles.Handle(req.Context(), p, op, keyID, refs)
		}
		if err != nil {
			return err
		}
		return writeData(w, req.Request, out)
	}
}

func (rt *Routes) rerollKey(w http.ResponseWriter, req bunrouter.Request) error {
	var in struct {
		KeyID      string `json:"keyId"`
		Expiration int64  `json:"expiration"`
	}
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	out, err := rt.RerollKey.Handle(req.Context(), p, in.KeyID, in.Expiration)
	if err != nil {
		return err
	}
	return writeData(w, req.Request, out)
}

func (rt *Routes) migrateKeys(w http.ResponseWriter, req bunrouter.Request) error {
	var in struct {
		MigrationID string                     `json:"migrationId"`
		APIID       string                     `json:"apiId"`
		Keys        []handlers.MigrateKeyInput `json:"keys"`
	}
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	out, err := rt.MigrateKeys.Handle(req.Context(), p, in.MigrationID, in.APIID, in.Keys)
	if err != nil {
		return err
	}
	return writeData(w, req.Request, out)
}
