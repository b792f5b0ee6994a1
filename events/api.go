package events

import "slices"

// APICreated opens an API: a named keyspace that keys are issued into.
type APICreated struct {
	APIID       string `json:"apiId"`
	KeySpaceID  string `json:"keySpaceId"`
	WorkspaceID string `json:"workspaceId"`
	Name        string `json:"name"`
}

func (APICreated) EventName() string { return "api.created" }
func (APICreated) EventVersion() int { return 1 }
func (e *APICreated) value() Event   { return *e }

// APIDeleteProtectionChanged toggles the guard that makes apis.deleteApi
// answer 412. Unkey sets it from its dashboard; keyline has no endpoint for it
// yet, but the rule belongs to the aggregate either way.
type APIDeleteProtectionChanged struct {
	APIID       string `json:"apiId"`
	WorkspaceID string `json:"workspaceId"`
	Enabled     bool   `json:"enabled"`
}

func (APIDeleteProtectionChanged) EventName() string { return "api.delete_protection_changed" }
func (APIDeleteProtectionChanged) EventVersion() int { return 1 }
func (e *APIDeleteProtectionChanged) value() Event   { return *e }

// APIDeleted soft-deletes an API. Its keys stay in place, as in Unkey.
type APIDeleted struct {
	APIID       string `json:"apiId"`
	WorkspaceID string `json:"workspaceId"`
}

func (APIDeleted) EventName() string { return "api.deleted" }
func (APIDeleted) EventVersion() int { return 1 }
func (e *APIDeleted) value() Event   { return *e }

// APIIPAllowlistSet replaces the addresses keys.verifyKey accepts requests
// from for this API's keys (Unkey's ip_whitelist). IPs are exact, canonical
// and sorted (NormalizeIPs); an empty list lifts the restriction.
type APIIPAllowlistSet struct {
	APIID       string   `json:"apiId"`
	WorkspaceID string   `json:"workspaceId"`
	IPs         []string `json:"ips"`
}

func (APIIPAllowlistSet) EventName() string { return "api.ip_allowlist_set" }
func (APIIPAllowlistSet) EventVersion() int { return 1 }
func (e *APIIPAllowlistSet) value() Event   { return *e }

func init() {
	register(func() Event { return &APICreated{} })
	register(func() Event { return &APIIPAllowlistSet{} })
	register(func() Event { return &APIDeleteProtectionChanged{} })
	register(func() Event { return &APIDeleted{} })
}

// APIStreamID names the stream of one API.
func APIStreamID(apiID string) string { return "api-" + apiID }

// API is the folded state of an API stream.
type API struct {
	ID               string
	WorkspaceID      string
	KeySpaceID       string
	Name             string
	DeleteProtection bool
	IPAllowlist      []string
	Deleted          bool
	Version          int64
}

// Apply folds one event into the state.
func (a *API) Apply(e Event) {
	switch e := e.(type) {
	case APICreated:
		a.ID, a.WorkspaceID, a.KeySpaceID, a.Name = e.APIID, e.WorkspaceID, e.KeySpaceID, e.Name
	case APIDeleteProtectionChanged:
		a.DeleteProtection = e.Enabled
	case APIIPAllowlistSet:
		a.IPAllowlist = e.IPs
	case APIDeleted:
		a.Deleted = true
	}
	a.Version++
}

// live reports whether the API exists and is visible to workspaceID. An API
// of another workspace is indistinguishable from a missing one.
func (a *API) live(workspaceID string) bool {
	return a.Version > 0 && !a.Deleted && a.WorkspaceID == workspaceID
}

// Create decides the creation of an API in a workspace.
func (a *API) Create(c APICreated) ([]Event, error) {
	if a.Version > 0 {
		return nil, ErrAlreadyExists
	}
	return []Event{c}, nil
}

// Delete decides a soft delete requested from workspaceID.
func (a *API) Delete(workspaceID string) ([]Event, error) {
	if !a.live(workspaceID) {
		return nil, ErrNotFound
	}
	if a.DeleteProtection {
		return nil, ErrDeleteProtected
	}
	return []Event{APIDeleted{APIID: a.ID, WorkspaceID: a.WorkspaceID}}, nil
}

// SetDeleteProtection decides a change of the delete guard.
func (a *API) SetDeleteProtection(workspaceID string, enabled bool) ([]Event, error) {
	if !a.live(workspaceID) {
		return nil, ErrNotFound
	}
	if a.DeleteProtection == enabled {
		return nil, nil
	}
	return []Event{APIDeleteProtectionChanged{APIID: a.ID, WorkspaceID: a.WorkspaceID, Enabled: enabled}}, nil
}

// SetIPAllowlist decides replacing the API's IP allow-list with ips (empty:
// no restriction). It is an operator's command, not a tenant's, so it takes
// no workspace: the API ID alone names it. Setting the list it already has
// decides nothing. A malformed list is refused before the API is looked
// at, so a typo is reported as such whatever the API ID.
func (a *API) SetIPAllowlist(ips []string) ([]Event, error) {
	canonical, err := NormalizeIPs(ips)
	if err != nil {
		return nil, err
	}
	if !a.live(a.WorkspaceID) {
		return nil, ErrNotFound
	}
	if slices.Equal(canonical, a.IPAllowlist) {
		return nil, nil
	}
	return []Event{APIIPAllowlistSet{APIID: a.ID, WorkspaceID: a.WorkspaceID, IPs: canonical}}, nil
}
