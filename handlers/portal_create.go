package handlers

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/keyline/keyline/events"
)

// CreatePortalInput is a new portal: its display name, the APIs it shows
// and an optional default return link.
type CreatePortalInput struct {
	Name      string   `json:"name"`
	APIIDs    []string `json:"apiIds"`
	ReturnURL string   `json:"returnUrl"`
}

// CreatePortalResult names the new portal.
type CreatePortalResult struct {
	PortalID string `json:"portalId"`
}

// CreatePortal opens a portal. Unkey's API has no endpoint for it: the
// operator runs `keyline portals create` (no permission checked), the
// console calls keyline.createPortal with a root key holding
// portal.*.create_portal and read_api on every API the portal shows.
type CreatePortal struct {
	Log    EventLog
	Reader APIReader
}

// NewCreatePortal builds the use case.
func NewCreatePortal(log EventLog, r APIReader) *CreatePortal {
	return &CreatePortal{Log: log, Reader: r}
}

// Handle checks every API is live in the workspace (404 otherwise) and
// appends portal.created.
func (h *CreatePortal) Handle(ctx context.Context, p *Principal, in CreatePortalInput) (CreatePortalResult, error) {
	if err := requirePortalAdmin(p, "portal.*.create_portal"); err != nil {
		return CreatePortalResult{}, err
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || strings.ContainsRune(name, 0) || len(name) > 255 {
		return CreatePortalResult{}, Fail(CodeInvalidInput, "A portal needs a name of 1 to 255 characters.")
	}
	if in.ReturnURL != "" {
		if err := checkReturnURL(in.ReturnURL); err != nil {
			return CreatePortalResult{}, err
		}
	}
	var apiIDs, keySpaceIDs []string
	for _, id := range in.APIIDs {
		id = strings.TrimSpace(id)
		if id == "" || slices.Contains(apiIDs, id) {
			continue
		}
		api, err := lookupAPI(ctx, h.Reader, p.WorkspaceID, id)
		if err != nil {
			return CreatePortalResult{}, err
		}
		// A root key shows only APIs it may read; any other is as missing
		// as apis.getApi would make it.
		if !portalOperator(p) && p.RequireAny(keySpacePerms(p, api.ID, api.KeySpaceID, "read_api")...) != nil {
			return CreatePortalResult{}, Fail(CodeAPINotFound, apiNotFoundDetail)
		}
		apiIDs, keySpaceIDs = append(apiIDs, api.ID), append(keySpaceIDs, api.KeySpaceID)
	}
	if len(apiIDs) == 0 {
		return CreatePortalResult{}, Fail(CodeInvalidInput, "A portal shows at least one API.")
	}
	c := events.PortalCreated{PortalID: NewID("pc"), WorkspaceID: p.WorkspaceID, Name: name, APIIDs: apiIDs,
		KeySpaceIDs: keySpaceIDs, ReturnURL: in.ReturnURL}
	var portal events.Portal
	decided, err := portal.Create(c)
	if err != nil {
		return CreatePortalResult{}, Internal("deciding portal creation", err)
	}
	if _, err := h.Log.Append(ctx, events.PortalStreamID(c.PortalID), 0, metaFor(ctx, p), decided...); err != nil {
		return CreatePortalResult{}, Internal("appending portal.created", err)
	}
	return CreatePortalResult{PortalID: c.PortalID}, nil
}

// checkReturnURL admits absolute http(s) URLs only: the portal page turns
// it into a link, and a javascript: or data: URL there would run script in
// keyline's origin.
func checkReturnURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(raw) > 500 {
		return &Error{Code: CodeInvalidInput, Detail: "returnUrl must be an absolute http:// or https:// URL of at most 500 characters.",
			Fields: []FieldError{{Location: "/properties/returnUrl", Message: "must be an absolute http(s) URL"}}}
	}
	return nil
}
