package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/keyring"
	"github.com/keyline/keyline/projections"
)

// KeyData is Unkey's KeyResponseData: empty optional fields are omitted.
type KeyData struct {
	KeyID       string             `json:"keyId"`
	Start       string             `json:"start"`
	Enabled     bool               `json:"enabled"`
	Name        string             `json:"name,omitempty"`
	Meta        json.RawMessage    `json:"meta,omitempty"`
	CreatedAt   int64              `json:"createdAt"`
	UpdatedAt   int64              `json:"updatedAt,omitempty"`
	Expires     *int64             `json:"expires,omitempty"`
	Permissions []string           `json:"permissions,omitempty"`
	Roles       []string           `json:"roles,omitempty"`
	Credits     *CreditsData       `json:"credits,omitempty"`
	Identity    *IdentityData      `json:"identity,omitempty"`
	Plaintext   string             `json:"plaintext,omitempty"`
	Ratelimits  []events.Ratelimit `json:"ratelimits,omitempty"`
}

// CreditsData is Unkey's KeyCreditsData; Remaining nil (JSON null) is unlimited.
type CreditsData struct {
	Remaining *int64         `json:"remaining"`
	Refill    *events.Refill `json:"refill,omitempty"`
}

// IdentityData is Unkey's Identity, as identities.* and keys show it.
type IdentityData struct {
	ID         string             `json:"id"`
	ExternalID string             `json:"externalId"`
	Meta       json.RawMessage    `json:"meta,omitempty"`
	Ratelimits []events.Ratelimit `json:"ratelimits,omitempty"`
}

// identityData renders an identity row.
func identityData(row projections.IdentityRow) *IdentityData {
	d := &IdentityData{ID: row.ID, ExternalID: row.ExternalID, Ratelimits: row.RatelimitList()}
	if row.Meta != "" {
		d.Meta = json.RawMessage(row.Meta)
	}
	return d
}

// PermissionData is Unkey's Permission.
type PermissionData struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	Description string `json:"description,omitempty"`
}

// RoleData is Unkey's Role; the key endpoints leave Permissions out.
type RoleData struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Permissions []PermissionData `json:"permissions,omitempty"`
}

// keyData renders rows as KeyResponseData, loading their access, credits
// and identities in a few batched queries.
func keyData(ctx context.Context, r KeyReader, ring *keyring.Keyring, rows []projections.KeyRow, decrypt bool) ([]KeyData, error) {
	ids := make([]string, len(rows))
	for i, row := range rows {
		ids[i] = row.ID
	}
	access, err := r.KeyAccess(ctx, ids)
	if err != nil {
		return nil, Internal("reading key access", err)
	}
	credits, err := r.CreditsOf(ctx, ids)
	if err != nil {
		return nil, Internal("reading key credits", err)
	}
	identities := map[string]*IdentityData{}
	out := make([]KeyData, 0, len(rows))
	for _, row := range rows {
		d := KeyData{KeyID: row.ID, Start: row.Start, Enabled: row.Enabled, Name: row.Name, CreatedAt: row.CreatedAt,
			Expires: row.Expires, Ratelimits: row.RatelimitList()}
		if row.Meta != "" {
			d.Meta = json.RawMessage(row.Meta)
		}
		if row.UpdatedAt != nil {
			d.UpdatedAt = *row.UpdatedAt
		}
		if a := access[row.ID]; a != nil {
			for _, p := range a.Direct {
				d.Permissions = append(d.Permissions, p.Slug)
			}
			for _, s := range a.RolePermissions {
				if !slices.Contains(d.Permissions, s) {
					d.Permissions = append(d.Permissions, s)
				}
			}
			sort.Strings(d.Permissions)
			for _, rl := range a.Roles {
				d.Roles = append(d.Roles, rl.Name)
			}
		}
		if c, ok := credits[row.ID]; ok && c.Remaining != nil {
			d.Credits = &CreditsData{Remaining: c.Remaining, Refill: row.Refill()}
		}
		if row.IdentityID != "" {
			id, ok := identities[row.IdentityID]
			if !ok {
				irow, err := r.Identity(ctx, row.IdentityID)
				switch {
				case errors.Is(err, events.ErrNotFound):
				case err != nil:
					return nil, Internal("reading identity", err)
				default:
					id = identityData(irow)
				}
				identities[row.IdentityID] = id
			}
			d.Identity = id
		}
		if decrypt && row.Ciphertext != "" && ring.Ready() {
			plain, err := ring.Open(row.ID, row.KeyringID, row.Ciphertext)
			if err != nil {
				return nil, Internal("decrypting key", err)
			}
			d.Plaintext = plain
		}
		out = append(out, d)
	}
	return out, nil
}

// Refill is the credit refill schedule as requests and responses carry it.
type Refill = events.Refill
