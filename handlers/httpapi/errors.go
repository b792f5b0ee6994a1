package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/keyline/keyline/handlers"
)

type problemKind struct {
	status int
	title  string
}

// problems maps the error vocabulary to HTTP, as Unkey's error middleware
// does. A code missing here renders as a 500, which a test forbids.
var problems = map[handlers.Code]problemKind{
	handlers.CodeInvalidInput:          {http.StatusBadRequest, "Bad Request"},
	handlers.CodeAuthMissing:           {http.StatusBadRequest, "Bad Request"},
	handlers.CodeAuthMalformed:         {http.StatusBadRequest, "Bad Request"},
	handlers.CodeRequestBodyUnreadable: {http.StatusBadRequest, "Bad Request"},
	handlers.CodeKeyNotFound:           {http.StatusUnauthorized, "Unauthorized"},
	handlers.CodeForbidden:             {http.StatusForbidden, "Forbidden"},
	handlers.CodeInsufficientPerms:     {http.StatusForbidden, "Insufficient Permissions"},
	handlers.CodeKeyDisabled:           {http.StatusForbidden, "Key is disabled"},
	handlers.CodeWorkspaceDisabled:     {http.StatusForbidden, "Workspace is disabled"},
	handlers.CodeWorkspaceNotFound:     {http.StatusNotFound, "Not Found"},
	handlers.CodeAPINotFound:           {http.StatusNotFound, "Not Found"},
	handlers.CodeKeyNotFoundData:       {http.StatusNotFound, "Not Found"},
	handlers.CodeRoleNotFound:          {http.StatusNotFound, "Not Found"},
	handlers.CodePermissionNotFound:    {http.StatusNotFound, "Not Found"},
	handlers.CodeMigrationNotFound:     {http.StatusNotFound, "Not Found"},
	handlers.CodePermissionsQuery:      {http.StatusBadRequest, "Bad Request"},
	handlers.CodeRequestTimeout:        {http.StatusRequestTimeout, "Request Timeout"},
	handlers.CodeProtectedResource:     {http.StatusPreconditionFailed, "Resource is protected"},
	handlers.CodePreconditionFailed:    {http.StatusPreconditionFailed, "Precondition Failed"},
	handlers.CodeRequestBodyTooLarge:   {http.StatusRequestEntityTooLarge, "Request Entity Too Large"},
	handlers.CodeClientClosedRequest:   {499, "Client Closed Request"},
	handlers.CodeUnexpected:            {http.StatusInternalServerError, "Internal Server Error"},
	handlers.CodeServiceUnavailable:    {http.StatusInternalServerError, "Internal Server Error"},

	handlers.CodeRatelimitNamespaceNotFound: {http.StatusNotFound, "Not Found"},
	handlers.CodeRatelimitOverrideNotFound:  {http.StatusNotFound, "Not Found"},
	handlers.CodeRatelimitNamespaceGone:     {http.StatusGone, "Resource Gone"},

	handlers.CodeIdentityNotFound:        {http.StatusNotFound, "Not Found"},
	handlers.CodeIdentityAlreadyExists:   {http.StatusConflict, "Conflicting Resource"},
	handlers.CodePermissionAlreadyExists: {http.StatusConflict, "Conflicting Resource"},
	handlers.CodeRoleAlreadyExists:       {http.StatusConflict, "Conflicting Resource"},

	handlers.CodeInvalidAnalyticsQuery:      {http.StatusBadRequest, "Bad Request"},
	handlers.CodeInvalidAnalyticsTable:      {http.StatusBadRequest, "Bad Request"},
	handlers.CodeInvalidAnalyticsFunction:   {http.StatusBadRequest, "Bad Request"},
	handlers.CodeInvalidAnalyticsQueryType:  {http.StatusBadRequest, "Bad Request"},
	handlers.CodeQueryRangeExceedsRetention: {http.StatusBadRequest, "Bad Request"},
	handlers.CodeAnalyticsNotConfigured:     {http.StatusPreconditionFailed, "Precondition Failed"},
	handlers.CodeAnalyticsConnectionFailed:  {http.StatusServiceUnavailable, "Service Unavailable"},
	handlers.CodeQueryExecutionTimeout:      {http.StatusUnprocessableEntity, "Unprocessable Entity"},
	handlers.CodeQueryMemoryLimitExceeded:   {http.StatusUnprocessableEntity, "Unprocessable Entity"},
	handlers.CodeQueryRowsLimitExceeded:     {http.StatusUnprocessableEntity, "Unprocessable Entity"},

	handlers.CodePortalNotFound:        {http.StatusNotFound, "Not Found"},
	handlers.CodePortalTokenMissing:    {http.StatusBadRequest, "Bad Request"},
	handlers.CodePortalSessionNotFound: {http.StatusUnauthorized, "Unauthorized"},
}

// typeURL turns "err:unkey:data:api_not_found" into Unkey's documentation URL.
func typeURL(code handlers.Code) string {
	return "https://unkey.com/docs/errors/" + strings.ReplaceAll(strings.TrimPrefix(string(code), "err:"), ":", "/")
}

type problem struct {
	Title  string                 `json:"title"`
	Detail string                 `json:"detail"`
	Status int                    `json:"status"`
	Type   string                 `json:"type"`
	Errors *[]handlers.FieldError `json:"errors,omitempty"`
}

type errorEnvelope struct {
	Meta  meta    `json:"meta"`
	Error problem `json:"error"`
}

// writeError renders err in Unkey's problem envelope. Internal causes go to
// the log, never to the client.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	e, kind := problemOf(err)
	traceStatus(r, kind.status)
	if kind.status >= 500 {
		logger.ErrorContext(r.Context(), "request failed", "requestId", handlers.RequestID(r.Context()), "path", r.URL.Path, "error", e.Error())
	}
	render(w, r, e, kind)
}

// renderError is writeError for a caller that has logged the failure itself.
func renderError(w http.ResponseWriter, r *http.Request, err error) {
	e, kind := problemOf(err)
	render(w, r, e, kind)
}

// problemOf maps err to the vocabulary and its HTTP problem; an unmapped
// code becomes a 500.
func problemOf(err error) (*handlers.Error, problemKind) {
	e := handlers.AsError(err)
	kind, ok := problems[e.Code]
	if !ok {
		kind = problems[handlers.CodeUnexpected]
		e = handlers.Internal("unmapped error code "+string(e.Code), e)
	}
	return e, kind
}

func render(w http.ResponseWriter, r *http.Request, e *handlers.Error, kind problemKind) {
	p := problem{Title: kind.title, Detail: e.Detail, Status: kind.status, Type: typeURL(e.Code)}
	// Only 400s use BadRequestErrorDetails; every other status is a strict
	// BaseError, which a validating client rejects if it carries "errors".
	if kind.status == http.StatusBadRequest {
		fields := e.Fields
		if fields == nil {
			fields = []handlers.FieldError{}
		}
		p.Errors = &fields
	}
	contentType := "application/json"
	if e.Code != handlers.CodeInvalidInput && wantsProblemJSON(r.Header.Get("Accept")) {
		contentType = "application/problem+json"
	}
	body, _ := json.Marshal(errorEnvelope{Meta: meta{RequestID: handlers.RequestID(r.Context())}, Error: p})
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(kind.status)
	_, _ = w.Write(body)
}

// wantsProblemJSON follows Unkey: problem+json whenever the client accepts
// it explicitly or through a wildcard (curl sends */*).
func wantsProblemJSON(accept string) bool {
	return strings.Contains(accept, "application/problem+json") ||
		strings.Contains(accept, "application/*") || strings.Contains(accept, "*/*")
}
