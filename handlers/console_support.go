package handlers

import "regexp"

// The console's listings (ListAPIs, ListRatelimitNamespaces) are keyline's
// own operations: Unkey's API has no way to list a workspace's APIs or
// namespaces (its dashboard reads its database). Unlike Unkey's list
// operations they leave out the rows the root key may not read instead of
// refusing the page, so a key scoped to one API sees that API.

// ConsolePageSize bounds one page of a console listing.
const (
	ConsolePageSize    = 100
	consoleMaxPageSize = 100
)

// consoleCursor: cursors are the IDs the listing returned. Anything else
// (NUL, control bytes, kilobytes of text) is refused before it reaches SQL.
var consoleCursor = regexp.MustCompile(`^[A-Za-z0-9_]{0,64}$`)

// ListInput is a console listing's request.
type ListInput struct {
	Cursor string
	Limit  int
}

// pageLimit validates in and returns the page size.
func (in ListInput) pageLimit() (int, error) {
	if !consoleCursor.MatchString(in.Cursor) {
		return 0, &Error{Code: CodeInvalidInput, Detail: "cursor is not a cursor this operation returned.",
			Fields: []FieldError{{Location: "/properties/cursor", Message: "must be an ID returned as cursor"}}}
	}
	switch {
	case in.Limit == 0:
		return ConsolePageSize, nil
	case in.Limit < 1 || in.Limit > consoleMaxPageSize:
		return 0, &Error{Code: CodeInvalidInput, Detail: "limit must be between 1 and 100.",
			Fields: []FieldError{{Location: "/properties/limit", Message: "must be between 1 and 100"}}}
	}
	return in.Limit, nil
}
