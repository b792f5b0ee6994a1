package handlers

import (
	"errors"
	"fmt"
)

// Code is a stable error identifier in Unkey's URN form
// ("err:<system>:<category>:<specific>"). The HTTP layer maps each code to a
// status, a title and a type URL in exactly one place.
type Code string

// The error vocabulary. Only codes listed here may reach a client.
const (
	CodeInvalidInput          Code = "err:unkey:application:invalid_input"
	CodeUnexpected            Code = "err:unkey:application:unexpected_error"
	CodeProtectedResource     Code = "err:unkey:application:protected_resource"
	CodePreconditionFailed    Code = "err:unkey:application:precondition_failed"
	CodeAuthMissing           Code = "err:unkey:authentication:missing"
	CodeAuthMalformed         Code = "err:unkey:authentication:malformed"
	CodeKeyNotFound           Code = "err:unkey:authentication:key_not_found"
	CodeForbidden             Code = "err:unkey:authorization:forbidden"
	CodeInsufficientPerms     Code = "err:unkey:authorization:insufficient_permissions"
	CodeKeyDisabled           Code = "err:unkey:authorization:key_disabled"
	CodeWorkspaceDisabled     Code = "err:unkey:authorization:workspace_disabled"
	CodeWorkspaceNotFound     Code = "err:unkey:data:workspace_not_found"
	CodeAPINotFound           Code = "err:unkey:data:api_not_found"
	CodeRequestBodyTooLarge   Code = "err:user:bad_request:request_body_too_large"
	CodeRequestBodyUnreadable Code = "err:user:bad_request:request_body_unreadable"
	CodeRequestTimeout        Code = "err:user:bad_request:request_timeout"
	CodeClientClosedRequest   Code = "err:user:bad_request:client_closed_request"
	CodeServiceUnavailable    Code = "err:unkey:application:service_unavailable"

	// Rate limiting.
	CodeRatelimitNamespaceNotFound Code = "err:unkey:data:ratelimit_namespace_not_found"
	CodeRatelimitNamespaceGone     Code = "err:unkey:data:ratelimit_namespace_gone"
	CodeRatelimitOverrideNotFound  Code = "err:unkey:data:ratelimit_override_not_found"
	CodeKeyNotFoundData            Code = "err:unkey:data:key_not_found"
	CodeRoleNotFound               Code = "err:unkey:data:role_not_found"
	CodePermissionNotFound         Code = "err:unkey:data:permission_not_found"
	CodeMigrationNotFound          Code = "err:unkey:data:migration_not_found"
	CodePermissionsQuery           Code = "err:user:bad_request:permissions_query_syntax_error"

	// Identities, permissions and roles.
	CodeIdentityNotFound        Code = "err:unkey:data:identity_not_found"
	CodeIdentityAlreadyExists   Code = "err:unkey:data:identity_already_exists"
	CodePermissionAlreadyExists Code = "err:unkey:data:permission_already_exists"
	CodeRoleAlreadyExists       Code = "err:unkey:data:role_already_exists"

	// Analytics queries.
	CodeInvalidAnalyticsQuery      Code = "err:user:bad_request:invalid_analytics_query"
	CodeInvalidAnalyticsTable      Code = "err:user:bad_request:invalid_analytics_table"
	CodeInvalidAnalyticsFunction   Code = "err:user:bad_request:invalid_analytics_function"
	CodeInvalidAnalyticsQueryType  Code = "err:user:bad_request:invalid_analytics_query_type"
	CodeQueryRangeExceedsRetention Code = "err:user:bad_request:query_range_exceeds_retention"
	CodeAnalyticsNotConfigured     Code = "err:unkey:data:analytics_not_configured"
	CodeAnalyticsConnectionFailed  Code = "err:unkey:data:analytics_connection_failed"
	CodeQueryExecutionTimeout      Code = "err:user:unprocessable_entity:query_execution_timeout"
	CodeQueryMemoryLimitExceeded   Code = "err:user:unprocessable_entity:query_memory_limit_exceeded"
	CodeQueryRowsLimitExceeded     Code = "err:user:unprocessable_entity:query_rows_limit_exceeded"

	// The customer portal.
	CodePortalNotFound        Code = "err:unkey:data:portal_not_found"
	CodePortalTokenMissing    Code = "err:unkey:authentication:portal_token_missing"
	CodePortalSessionNotFound Code = "err:unkey:authentication:portal_session_not_found"
)

// FieldError is one schema-validation problem, as Unkey reports it.
type FieldError struct {
	Location string `json:"location"`
	Message  string `json:"message"`
	Fix      string `json:"fix,omitempty"`
}

// Error is a failure a client may learn about: Code and Detail are public,
// Err is the internal cause, logged but never sent.
type Error struct {
	Code   Code
	Detail string
	Fields []FieldError
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Detail, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// Fail builds a public error.
func Fail(code Code, detail string) *Error { return &Error{Code: code, Detail: detail} }

// Internal wraps an unexpected failure with context. The client sees a
// generic 500; the cause goes to the log.
func Internal(context string, err error) *Error {
	return &Error{Code: CodeUnexpected, Detail: "An unexpected error occurred. Please try again later.",
		Err: fmt.Errorf("%s: %w", context, err)}
}

// AsError extracts the public error from err, treating anything unknown as
// internal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal("unhandled", err)
}
