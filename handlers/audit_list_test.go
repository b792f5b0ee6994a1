package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/keyline/keyline/events"
)

// auditLogStub is audit_log_v1 in memory: positions newest first.
type auditLogStub struct {
	configured bool
	recs       []events.Recorded
}

func (s *auditLogStub) AuditConfigured() bool { return s.configured }

func (s *auditLogStub) AuditLog(_ context.Context, workspaceID string, before int64, limit int) ([]events.Recorded, error) {
	var out []events.Recorded
	for i := len(s.recs) - 1; i >= 0 && len(out) < limit; i-- {
		r := s.recs[i]
		if r.Meta.WorkspaceID == workspaceID && (before == 0 || r.Position <= before) {
			out = append(out, r)
		}
	}
	return out, nil
}

func TestListAuditLogs(t *testing.T) {
	payload, _ := json.Marshal(events.KeyCreated{KeyID: "key_1", WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1",
		Hash: "secret-hash", PermissionIDs: []string{"perm_1", "perm_2"}})
	stub := &auditLogStub{configured: true, recs: []events.Recorded{
		{Position: 1, Name: "api.created", StreamID: "api-api_1", Payload: []byte(`{"apiId":"api_1","workspaceId":"ws_1"}`),
			Meta: events.Metadata{WorkspaceID: "ws_1", ActorID: "rk_1"}, OccurredAt: time.UnixMilli(1000)},
		{Position: 2, Name: "api.created", StreamID: "api-api_9", Payload: []byte(`{"apiId":"api_9"}`),
			Meta: events.Metadata{WorkspaceID: "ws_other"}, OccurredAt: time.UnixMilli(1500)},
		{Position: 3, Name: "key.created", StreamID: "key-key_1", Payload: payload,
			Meta: events.Metadata{WorkspaceID: "ws_1", ActorID: "rk_1", RequestID: "req_1"}, OccurredAt: time.UnixMilli(2000)},
	}}
	h := NewListAuditLogs(stub)
	reader := NewPrincipal("ws_1", "rk_1", []string{"workspace.*.read_audit_log"})
	ctx := context.Background()

	first, err := h.Handle(ctx, reader, ListAuditLogsInput{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []AuditEntry{{Position: 3, Time: 2000, ActorID: "rk_1", Event: "key.created", StreamID: "key-key_1", RequestID: "req_1",
		Resources: []AuditResource{{"api", "api_1"}, {"key", "key_1"}, {"keySpace", "ks_1"}, {"permission", "perm_1"}, {"permission", "perm_2"}}}}
	if !reflect.DeepEqual(first.Entries, want) || !first.HasMore || first.Cursor != "1" {
		t.Fatalf("first page %+v", first)
	}
	second, err := h.Handle(ctx, reader, ListAuditLogsInput{Limit: 1, Cursor: first.Cursor})
	if err != nil || len(second.Entries) != 1 || second.Entries[0].Position != 1 || second.HasMore ||
		!reflect.DeepEqual(second.Entries[0].Resources, []AuditResource{{"api", "api_1"}}) {
		t.Fatalf("second page %+v %v", second, err)
	}

	var e *Error
	if _, err := h.Handle(ctx, NewPrincipal("ws_1", "rk_2", []string{"api.*.read_api"}), ListAuditLogsInput{}); !errors.As(err, &e) || e.Code != CodeInsufficientPerms {
		t.Fatalf("without the grant: %v", err)
	}
	for _, cursor := range []string{"x", "-1", "0"} {
		if _, err := h.Handle(ctx, reader, ListAuditLogsInput{Cursor: cursor}); !errors.As(err, &e) || e.Code != CodeInvalidInput {
			t.Fatalf("cursor %q: %v", cursor, err)
		}
	}
	if _, err := NewListAuditLogs(&auditLogStub{}).Handle(ctx, reader, ListAuditLogsInput{}); !errors.As(err, &e) || e.Code != CodeAnalyticsNotConfigured {
		t.Fatalf("without ClickHouse: %v", err)
	}
}
