package handlers

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/keyline/keyline/events"
)

// AuditLogReader is the audit log as the audit projector wrote it
// (ClickHouse's audit_log_v1); clickhouse.AuditReader implements it.
type AuditLogReader interface {
	AuditConfigured() bool
	// AuditLog returns up to limit events of the workspace, newest first,
	// from position before on (inclusive; 0 starts at the newest).
	AuditLog(ctx context.Context, workspaceID string, before int64, limit int) ([]events.Recorded, error)
}

// AuditResource is one thing an audited event names, as Unkey's audit
// logs list theirs: a kind ("key", "api", "identity", ...) and its ID.
type AuditResource struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// AuditEntry is one event of the audit log. The payload itself is not
// shown: it holds key hashes and encrypted key material.
type AuditEntry struct {
	Position  int64           `json:"position"`
	Time      int64           `json:"time"`
	ActorID   string          `json:"actorId"`
	Event     string          `json:"event"`
	StreamID  string          `json:"streamId"`
	RequestID string          `json:"requestId,omitempty"`
	Resources []AuditResource `json:"resources"`
}

// ListAuditLogsInput is a page request; the cursor is a position this
// operation returned.
type ListAuditLogsInput = ListInput

// ListAuditLogsResult is one page of the audit log, newest first.
type ListAuditLogsResult struct {
	Entries []AuditEntry
	HasMore bool
	Cursor  string
}

// auditReadPerm is workspace-wide: the log names every resource of the
// workspace, so a key scoped to one API may not read it.
const auditReadPerm = "workspace.*.read_audit_log"

// ListAuditLogs pages through the workspace's audit log (keyline's own
// operation, for the console).
type ListAuditLogs struct{ Reader AuditLogReader }

// NewListAuditLogs builds the use case.
func NewListAuditLogs(r AuditLogReader) *ListAuditLogs { return &ListAuditLogs{Reader: r} }

// Handle needs workspace.*.read_audit_log (403). Without clickhouse.url
// there is no audit log: the same 412 analytics answers then.
func (h *ListAuditLogs) Handle(ctx context.Context, p *Principal, in ListAuditLogsInput) (ListAuditLogsResult, error) {
	if err := p.RequireAny(auditReadPerm); err != nil {
		return ListAuditLogsResult{}, err
	}
	limit, err := in.pageLimit()
	if err != nil {
		return ListAuditLogsResult{}, err
	}
	var before int64
	if in.Cursor != "" {
		if before, err = strconv.ParseInt(in.Cursor, 10, 64); err != nil || before <= 0 {
			return ListAuditLogsResult{}, &Error{Code: CodeInvalidInput, Detail: "cursor is not a cursor this operation returned.",
				Fields: []FieldError{{Location: "/properties/cursor", Message: "must be a position returned as cursor"}}}
		}
	}
	if h.Reader == nil || !h.Reader.AuditConfigured() {
		return ListAuditLogsResult{}, Fail(CodeAnalyticsNotConfigured, "The audit log needs ClickHouse: set clickhouse.url.")
	}
	recs, err := h.Reader.AuditLog(ctx, p.WorkspaceID, before, limit+1)
	if err != nil {
		return ListAuditLogsResult{}, Internal("reading the audit log", err)
	}
	res := ListAuditLogsResult{Entries: make([]AuditEntry, 0, min(len(recs), limit))}
	if len(recs) > limit {
		res.HasMore, res.Cursor = true, strconv.FormatInt(recs[limit].Position, 10)
		recs = recs[:limit]
	}
	for _, r := range recs {
		res.Entries = append(res.Entries, AuditEntry{Position: r.Position, Time: r.OccurredAt.UnixMilli(), ActorID: r.Meta.ActorID,
			Event: r.Name, StreamID: r.StreamID, RequestID: r.Meta.RequestID, Resources: auditResources(r.Payload)})
	}
	return res, nil
}

// auditResources lists the IDs an event's payload names at its top level
// ("keyId", "apiId", "permissionIds", ...), ordered by kind. The workspace
// is left out: every entry of the page is the caller's own workspace.
func auditResources(payload []byte) []AuditResource {
	var fields map[string]json.RawMessage
	out := []AuditResource{}
	if json.Unmarshal(payload, &fields) != nil {
		return out
	}
	kinds := make([]string, 0, len(fields))
	for k := range fields {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, field := range kinds {
		if field == "workspaceId" {
			continue
		}
		if kind, ok := strings.CutSuffix(field, "Id"); ok && kind != "" {
			var id string
			if json.Unmarshal(fields[field], &id) == nil && id != "" {
				out = append(out, AuditResource{Type: kind, ID: id})
			}
		} else if kind, ok := strings.CutSuffix(field, "Ids"); ok && kind != "" {
			var ids []string
			if json.Unmarshal(fields[field], &ids) == nil {
				for _, id := range ids {
					out = append(out, AuditResource{Type: kind, ID: id})
				}
			}
		}
	}
	return out
}
