package events

import "errors"

// Domain rule violations. Handlers translate them into the API's error
// vocabulary; they never reach a client as text.
var (
	// ErrNotFound: the aggregate does not exist, or was deleted.
	ErrNotFound = errors.New("events: not found")
	// ErrAlreadyExists: a create hit an aggregate that is already there.
	ErrAlreadyExists = errors.New("events: already exists")
	// ErrDeleteProtected: the aggregate refuses deletion until protection is lifted.
	ErrDeleteProtected = errors.New("events: delete protected")
	// ErrInvalidIP: an IP allow-list entry is not one exact IP address; the
	// error returned is an *InvalidIPError naming the entry.
	ErrInvalidIP = errors.New("events: invalid IP address")
	// ErrRevoked: the root key was revoked; it can be neither used nor
	// revoked again.
	ErrRevoked = errors.New("events: revoked")
)

// ErrUnlimitedCredits: a relative credit change on a key without a credit limit.
var ErrUnlimitedCredits = errors.New("events: key has unlimited credits")
